//! Read-only views of the stores behind tables, in the table's key and value types (Kafka
//! Streams' `ReadOnlyKeyValueStore`, `ReadOnlyWindowStore`, `ReadOnlySessionStore`).
//!
//! An aggregation's store keeps the aggregator's accumulator (a [`crate::Mean`] keeps a sum
//! and a count); its view returns what the table holds (the mean). Every store the DSL makes
//! for a table carries its view, so an interactive query or a test names the table's types
//! only: `driver.with_store::<ReadOnlyKeyValueStore<String, f64>, _>("avg", ..)` with the test
//! driver, `streams.query_key::<ReadOnlyKeyValueStore<String, f64>, _, _>(..)` on Kafka.
//!
//! ```
//! use kstreams_dsl::prelude::*;
//! use kstreams_test::TopologyTestDriver;
//!
//! let mut b = StreamsBuilder::new();
//! b.stream("readings", Consumed::with(StringSerde, F64Serde))
//!     .group_by_key(Grouped::default())
//!     .aggregate(Mean::of(|c: &f64| *c), Materialized::as_("avg"));
//! let driver = TopologyTestDriver::new(b.build()?)?;
//! let input = driver.input_topic("readings", StringSerde, F64Serde);
//! input.pipe("s1".to_string(), 20.0, 1_000)?;
//! input.pipe("s1".to_string(), 22.0, 2_000)?;
//! let avg = driver.with_store::<ReadOnlyKeyValueStore<String, f64>, _>("avg", |_, store| {
//!     store.get_with_timestamp(&"s1".to_string())
//! });
//! assert_eq!(avg.into_iter().next().transpose()?.flatten(), Some((21.0, 2_000)));
//! # Ok::<(), kstreams_core::StreamsError>(())
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use kstreams_core::{BuiltStore, Result, StoreBuilder, StoreContext, StreamsError, Window, Windowed};
use kstreams_state::{KeyValueStore, SessionStore, VersionedKeyValueStore, WindowStore};

/// Reads a key-value table: `(value, timestamp)` by key, and every entry.
pub(crate) trait KvRead<K, V> {
    fn get(&self, key: &K) -> Result<Option<(V, i64)>>;
    fn all(&self) -> Result<Vec<(K, V, i64)>>;
}

/// Reads a windowed table: `(window start, value)`.
pub(crate) trait WindowRead<K, V> {
    fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>>;
    fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>>;
}

/// Reads a session table: `(start, end, value)`.
pub(crate) trait SessionRead<K, V> {
    fn find(&self, key: &K, earliest_end: i64, latest_start: i64) -> Result<Vec<(i64, i64, V)>>;
}

/// A table's key-value store, read in the table's types.
pub struct ReadOnlyKeyValueStore<K, V> {
    name: String,
    read: Box<dyn KvRead<K, V>>,
}

impl<K, V> ReadOnlyKeyValueStore<K, V> {
    pub(crate) fn new(name: &str, read: impl KvRead<K, V> + 'static) -> Self {
        Self { name: name.to_string(), read: Box::new(read) }
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        Ok(self.read.get(key)?.map(|(v, _)| v))
    }

    /// The value of `key` and the timestamp of its latest update (Kafka's
    /// `ValueAndTimestamp`).
    pub fn get_with_timestamp(&self, key: &K) -> Result<Option<(V, i64)>> {
        self.read.get(key)
    }

    /// Every entry, in the byte order of the encoded keys.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        Ok(self.read.all()?.into_iter().map(|(k, v, _)| (k, v)).collect())
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.name
    }
}

/// A windowed table's store, read in the table's types.
pub struct ReadOnlyWindowStore<K, V> {
    name: String,
    size_ms: i64,
    read: Box<dyn WindowRead<K, V>>,
}

impl<K, V> ReadOnlyWindowStore<K, V> {
    pub(crate) fn new(name: &str, size_ms: i64, read: impl WindowRead<K, V> + 'static) -> Self {
        Self { name: name.to_string(), size_ms, read: Box::new(read) }
    }

    fn window(&self, start: i64) -> Window {
        Window::new(start, start.saturating_add(self.size_ms))
    }

    /// The value of `key` in the window starting at `start`.
    pub fn fetch(&self, key: &K, start: i64) -> Result<Option<V>> {
        Ok(self.read.fetch(key, start, start)?.into_iter().next().map(|(_, v)| v))
    }

    /// The windows of `key` starting in `[from, to]`, ascending, with their values.
    pub fn fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(Window, V)>> {
        Ok(self.read.fetch(key, from, to)?.into_iter().map(|(s, v)| (self.window(s), v)).collect())
    }

    /// The windows of every key starting in `[from, to]`, ascending by start then key.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(Windowed<K>, V)>> {
        Ok(self
            .read
            .fetch_all(from, to)?
            .into_iter()
            .map(|(k, s, v)| (Windowed::new(k, self.window(s)), v))
            .collect())
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.name
    }
}

/// A session table's store, read in the table's types.
pub struct ReadOnlySessionStore<K, V> {
    name: String,
    read: Box<dyn SessionRead<K, V>>,
}

impl<K, V> ReadOnlySessionStore<K, V> {
    pub(crate) fn new(name: &str, read: impl SessionRead<K, V> + 'static) -> Self {
        Self { name: name.to_string(), read: Box::new(read) }
    }

    /// Every session of `key`, with its value.
    pub fn fetch(&self, key: &K) -> Result<Vec<(Window, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }

    /// The sessions of `key` with `end >= earliest_end` and `start <= latest_start`.
    pub fn find_sessions(&self, key: &K, earliest_end: i64, latest_start: i64) -> Result<Vec<(Window, V)>> {
        Ok(self
            .read
            .find(key, earliest_end, latest_start)?
            .into_iter()
            .map(|(s, e, v)| (Window::new(s, e), v))
            .collect())
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.name
    }
}

/// Makes the view of a built store: takes the store's typed handle, returns the view.
pub(crate) type MakeView<T, W> = Arc<dyn Fn(&str, Rc<RefCell<T>>) -> W + Send + Sync>;

/// A store builder whose stores carry a view of type `W` over their typed handle `T`.
pub(crate) struct WithView<B, T, W> {
    inner: B,
    make: MakeView<T, W>,
}

impl<B, T, W> WithView<B, T, W> {
    pub(crate) fn new(inner: B, make: MakeView<T, W>) -> Self {
        Self { inner, make }
    }
}

impl<B: StoreBuilder, T: 'static, W: 'static> StoreBuilder for WithView<B, T, W> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn logging_enabled(&self) -> bool {
        self.inner.logging_enabled()
    }
    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
    fn build(&self, ctx: StoreContext<'_>) -> Result<BuiltStore> {
        let built = self.inner.build(ctx)?;
        let handle = built.handle::<T>().ok_or_else(|| {
            StreamsError::Topology(format!(
                "store `{}` is not a {}",
                self.inner.name(),
                std::any::type_name::<T>()
            ))
        })?;
        let view = (self.make)(self.inner.name(), handle);
        Ok(built.with_view(view))
    }
}

/// What a store keeps turned into what its table holds (an accumulator into a result).
pub(crate) type ResultFn<S, V> = Arc<dyn Fn(&S) -> Option<V> + Send + Sync>;

/// A key-value store of `S`, read as `V`.
struct KvView<K, S, V> {
    store: Rc<RefCell<KeyValueStore<K, S>>>,
    result: ResultFn<S, V>,
}

impl<K: 'static, S: 'static, V> KvRead<K, V> for KvView<K, S, V> {
    fn get(&self, key: &K) -> Result<Option<(V, i64)>> {
        let found = self.store.borrow_mut().get_with_timestamp(key)?;
        Ok(found.and_then(|(s, ts)| (self.result)(&s).map(|v| (v, ts))))
    }
    fn all(&self) -> Result<Vec<(K, V, i64)>> {
        let all = self.store.borrow().all_with_timestamps()?;
        Ok(all.into_iter().filter_map(|(k, s, ts)| (self.result)(&s).map(|v| (k, v, ts))).collect())
    }
}

/// The view of a key-value store of `S` whose table holds `result(s)`.
pub(crate) fn kv_view<K: 'static, S: 'static, V: 'static>(
    result: ResultFn<S, V>,
) -> MakeView<KeyValueStore<K, S>, ReadOnlyKeyValueStore<K, V>> {
    Arc::new(move |name, store| ReadOnlyKeyValueStore::new(name, KvView { store, result: result.clone() }))
}

/// The latest values of a versioned store.
struct VersionedView<K, V> {
    store: Rc<RefCell<VersionedKeyValueStore<K, V>>>,
}

impl<K: 'static, V: 'static> KvRead<K, V> for VersionedView<K, V> {
    fn get(&self, key: &K) -> Result<Option<(V, i64)>> {
        self.store.borrow_mut().get(key)
    }
    fn all(&self) -> Result<Vec<(K, V, i64)>> {
        self.store.borrow().all_latest()
    }
}

/// The view of a versioned table's store: its latest values.
pub(crate) fn versioned_view<K: 'static, V: 'static>(
) -> MakeView<VersionedKeyValueStore<K, V>, ReadOnlyKeyValueStore<K, V>> {
    Arc::new(|name, store| ReadOnlyKeyValueStore::new(name, VersionedView { store }))
}

/// A window store of `S`, read as `V`.
struct WindowView<K, S, V> {
    store: Rc<RefCell<WindowStore<K, S>>>,
    result: ResultFn<S, V>,
}

impl<K: 'static, S: 'static, V> WindowRead<K, V> for WindowView<K, S, V> {
    fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        let found = self.store.borrow_mut().fetch_range(key, from, to)?;
        Ok(found.into_iter().filter_map(|(start, s)| (self.result)(&s).map(|v| (start, v))).collect())
    }
    fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        let found = self.store.borrow().fetch_all(from, to)?;
        Ok(found.into_iter().filter_map(|(k, start, s)| (self.result)(&s).map(|v| (k, start, v))).collect())
    }
}

/// The view of a window store of `S` (windows of `size_ms`) whose table holds `result(s)`.
pub(crate) fn window_view<K: 'static, S: 'static, V: 'static>(
    size_ms: i64,
    result: ResultFn<S, V>,
) -> MakeView<WindowStore<K, S>, ReadOnlyWindowStore<K, V>> {
    Arc::new(move |name, store| {
        ReadOnlyWindowStore::new(name, size_ms, WindowView { store, result: result.clone() })
    })
}

/// A session store of `S`, read as `V`.
struct SessionView<K, S, V> {
    store: Rc<RefCell<SessionStore<K, S>>>,
    result: ResultFn<S, V>,
}

impl<K: 'static, S: 'static, V> SessionRead<K, V> for SessionView<K, S, V> {
    fn find(&self, key: &K, earliest_end: i64, latest_start: i64) -> Result<Vec<(i64, i64, V)>> {
        let found = self.store.borrow_mut().find_sessions(key, earliest_end, latest_start)?;
        Ok(found.into_iter().filter_map(|(s, e, acc)| (self.result)(&acc).map(|v| (s, e, v))).collect())
    }
}

/// The view of a session store of `S` whose table holds `result(s)`.
pub(crate) fn session_view<K: 'static, S: 'static, V: 'static>(
    result: ResultFn<S, V>,
) -> MakeView<SessionStore<K, S>, ReadOnlySessionStore<K, V>> {
    Arc::new(move |name, store| {
        ReadOnlySessionStore::new(name, SessionView { store, result: result.clone() })
    })
}

/// The result function of a store holding the table's values themselves.
pub(crate) fn identity<V: Clone + 'static>() -> ResultFn<V, V> {
    Arc::new(|v: &V| Some(v.clone()))
}

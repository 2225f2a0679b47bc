//! The processors behind the DSL operators. Each DSL call records one of these in the
//! topology; tasks instantiate them.

pub(crate) mod aggregate;
pub(crate) mod dedup;
pub(crate) mod foreign_key;
pub(crate) mod join_global;
pub(crate) mod join_stream;
pub(crate) mod join_table;
pub(crate) mod session_aggregate;
pub(crate) mod sliding_aggregate;
pub(crate) mod stateless;
pub(crate) mod suppress;
pub(crate) mod table;
pub(crate) mod table_aggregate;
pub(crate) mod versioned;

/// How processors hold a store of their task: shared within the task, never across threads.
pub(crate) type StoreHandle<T> = std::rc::Rc<std::cell::RefCell<T>>;

//! The kstreams DSL: typed streams and tables over Kafka topics.
//!
//! Each stage returns its own type — [`KStream`] → [`KGroupedStream`] → windowed stream →
//! [`KTable`] — so operators called in the wrong order do not compile. DSL calls only record
//! nodes in a [`Topology`](kstreams_core::Topology); the runtime or the test driver runs it.
//!
//! Every public item is named here, at the root; [`prelude`] gathers what a topology function
//! usually needs, together with the serdes and windows of `kstreams-core`.
#![deny(missing_docs)]

mod aggregator;
mod builder;
mod cogroup;
mod foreign_key;
mod global;
mod grouped;
mod grouped_table;
mod join;
mod options;
mod processors;
mod query;
mod session;
mod sliding;
mod split;
mod stream;
mod stream_table;
mod table;
mod versioned;

pub use aggregator::{
    Aggregator, Count, FnAggregator, Max, Mean, MeanAcc, Min, Reducer, Stats, StatsOf, Sum,
};
pub use builder::StreamsBuilder;
pub use cogroup::{CogroupedKStream, TimeWindowedCogroupedKStream};
pub use foreign_key::TableJoined;
pub use global::GlobalKTable;
pub use grouped::{KGroupedStream, TimeWindowedKStream, WindowSpec};
pub use grouped_table::KGroupedTable;
pub use options::{Consumed, Grouped, Joined, Materialized, Produced, Repartitioned, StoreType};
pub use query::{ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore};
pub use session::SessionWindowedKStream;
pub use sliding::{SlidingWindowAcc, SlidingWindowedKStream};
pub use split::{Branched, BranchedKStream, Predicate};
pub use stream::KStream;
pub use table::{Change, KTable, Suppressed};

/// Everything a topology function usually needs, in one place: the DSL, the serdes and
/// windows, the Processor API (`Processor`, `ProcessorContext`, `PunctuationType`,
/// `Cancellable`), the stores processors and queries use (typed stores of
/// `kstreams-state`, the read-only views of tables) and the names of the dead-letter headers.
pub mod prelude {
    pub use crate::{
        Aggregator, Branched, BranchedKStream, Change, CogroupedKStream, Consumed, Count, FnAggregator,
        GlobalKTable, Grouped, Joined, KGroupedStream, KGroupedTable, KStream, KTable, Materialized, Max,
        Mean, Min, Produced, ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore, Reducer,
        Repartitioned, Stats, StatsOf, StoreType, StreamsBuilder, Sum, Suppressed, TableJoined,
    };
    pub use kstreams_core::{
        dead_letter_headers, BincodeSerde, BytesSerde, Cancellable, F64Serde, HoppingWindows, I32Serde,
        I64Serde, JoinWindows, JsonSerde, OptionSerde, Processor, ProcessorContext, PunctuationType, Record,
        Serde, SessionWindowedSerde, SessionWindows, SlidingWindows, StringSerde, TimeWindowedSerde,
        TimeWindows, Topology, TumblingWindows, U32Serde, U64Serde, UnitSerde, Window, Windowed,
    };
    pub use kstreams_state::{
        KeyValueStore, KeyValueStoreBuilder, SessionStore, SessionStoreBuilder, StoreSpec,
        VersionedKeyValueStore, VersionedKeyValueStoreBuilder, WindowStore, WindowStoreBuilder,
    };
}

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
mod global;
mod grouped;
mod join;
mod options;
mod processors;
mod session;
mod sliding;
mod stream;
mod table;

pub use aggregator::{
    Aggregator, Count, FnAggregator, Max, Mean, MeanAcc, Min, Reducer, Stats, StatsOf, Sum,
};
pub use builder::StreamsBuilder;
pub use global::GlobalKTable;
pub use grouped::{KGroupedStream, TimeWindowedKStream, WindowSpec};
pub use options::{Consumed, Grouped, Joined, Materialized, Produced, Repartitioned, StoreType};
pub use session::SessionWindowedKStream;
pub use sliding::{SlidingWindowAcc, SlidingWindowedKStream};
pub use stream::{KStream, Predicate};
pub use table::{Change, KTable, Suppressed};

/// Everything a topology function usually needs.
pub mod prelude {
    pub use crate::{
        Aggregator, Change, Consumed, Count, FnAggregator, GlobalKTable, Grouped, Joined, KStream, KTable,
        Materialized, Max, Mean, Min, Produced, Reducer, Repartitioned, Stats, StatsOf, StoreType,
        StreamsBuilder, Sum, Suppressed,
    };
    pub use kstreams_core::{
        BincodeSerde, BytesSerde, F64Serde, HoppingWindows, I32Serde, I64Serde, JoinWindows, JsonSerde,
        OptionSerde, Record, Serde, SessionWindows, SlidingWindows, StringSerde, TimeWindows, Topology,
        TumblingWindows, U32Serde, U64Serde, UnitSerde, Window, Windowed, WindowedSerde,
    };
}

//! The kstreams DSL: typed streams and tables over Kafka topics.
//!
//! Each stage returns its own type — [`KStream`] → [`KGroupedStream`] → windowed stream →
//! [`KTable`] — so operators called in the wrong order do not compile. DSL calls only record
//! nodes in a [`Topology`](kstreams_core::Topology); the runtime or the test driver runs it.
#![deny(missing_docs)]

pub mod aggregator;
pub mod builder;
pub mod global;
pub mod grouped;
mod join;
pub mod options;
mod processors;
pub mod session;
pub mod sliding;
pub mod stores;
pub mod stream;
pub mod table;

pub use aggregator::{
    Aggregator, Count, FnAggregator, Max, Mean, MeanAcc, Min, Reducer, Stats, StatsOf, Sum,
};
pub use builder::StreamsBuilder;
pub use global::GlobalKTable;
pub use grouped::{KGroupedStream, TimeWindowedKStream, WindowSpec};
pub use options::{Consumed, Grouped, Joined, Materialized, Produced, Repartitioned, StoreType};
pub use session::SessionWindowedKStream;
pub use sliding::{SlidingWindowAcc, SlidingWindowedKStream};
pub use stream::KStream;
pub use table::{Change, KTable, Suppressed};

/// Everything a topology function usually needs.
pub mod prelude {
    pub use crate::aggregator::{
        Aggregator, Count, FnAggregator, Max, Mean, Min, Reducer, Stats, StatsOf, Sum,
    };
    pub use crate::builder::StreamsBuilder;
    pub use crate::global::GlobalKTable;
    pub use crate::options::{Consumed, Grouped, Joined, Materialized, Produced, Repartitioned, StoreType};
    pub use crate::stream::KStream;
    pub use crate::table::{Change, KTable, Suppressed};
    pub use kstreams_core::serde::{
        BincodeSerde, BytesSerde, F64Serde, I32Serde, I64Serde, JsonSerde, OptionSerde, Serde, StringSerde,
        U32Serde, U64Serde, UnitSerde,
    };
    pub use kstreams_core::window::{
        HoppingWindows, JoinWindows, SessionWindows, SlidingWindows, TimeWindows, TumblingWindows, Window,
        Windowed, WindowedSerde,
    };
    pub use kstreams_core::{Record, Topology};
}

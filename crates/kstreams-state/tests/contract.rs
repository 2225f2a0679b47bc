//! One contract suite, run against every store implementation and wrapper stack.
//!
//! Each case is a plain function taking a [`common::Fixture`]; the `suite!` macro instantiates
//! every case for every stack (`memory`, `rocks`, `caching_memory`, `caching_rocks`,
//! `logging_memory`, ...), so a failure names both, e.g. `kv::caching_rocks::range_bounds`.
#![allow(clippy::unwrap_used)]

mod common;

/// `suite!([stack, ...]; [case, ...])` → `mod stack { #[test] fn case() }` for every pair,
/// each building its fixture with the calling module's `fixture(stack_name)`.
macro_rules! suite {
    ([$($kind:ident),* $(,)?]; $cases:tt) => {
        $( suite!(@kind $kind; $cases); )*
    };
    (@kind $kind:ident; [$($case:ident),* $(,)?]) => {
        mod $kind {
            $(
                #[test]
                fn $case() {
                    let mut fixture = super::fixture(stringify!($kind));
                    super::$case(&mut fixture);
                }
            )*
        }
    };
}

#[path = "contract/changelog.rs"]
mod changelog;
#[path = "contract/kv.rs"]
mod kv;
#[path = "contract/rocks.rs"]
mod rocks;
#[path = "contract/session.rs"]
mod session;
#[path = "contract/window.rs"]
mod window;

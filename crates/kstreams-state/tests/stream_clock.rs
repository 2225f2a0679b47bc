//! Window stores that follow their task's stream time ([`StreamClock`]): a record from a
//! partition running ahead does not expire windows the task's stream time still needs, and
//! once stream time moves on they expire as usual. Checked on the in-memory store, and through
//! the write cache and the changelog wrapper.
#![allow(clippy::unwrap_used)] // tests may unwrap

use kstreams_state::{
    CachingWindowStore, ChangeLoggingWindowStore, CollectingSink, MemoryWindowStore, StreamClock,
    WindowBytesStore, WindowStoreOptions,
};

const HOUR: i64 = 3_600_000;

fn stacks(clock: &StreamClock) -> Vec<(&'static str, Box<dyn WindowBytesStore>)> {
    let options = || WindowStoreOptions::new(HOUR).segment_interval_ms(HOUR / 2).clock(clock.clone());
    let memory = || Box::new(MemoryWindowStore::new("w", options()).unwrap()) as Box<dyn WindowBytesStore>;
    let logged = || Box::new(ChangeLoggingWindowStore::new(memory(), Box::new(CollectingSink::new())));
    vec![
        ("memory", memory()),
        ("logged", logged()),
        ("cached+logged", Box::new(CachingWindowStore::new(logged(), 1 << 20).unwrap())),
    ]
}

#[test]
fn windows_expire_by_the_task_stream_time_not_by_the_newest_write() {
    for name in ["memory", "logged", "cached+logged"] {
        let clock = StreamClock::new();
        let (_, mut s) = stacks(&clock).into_iter().find(|(n, _)| *n == name).unwrap();
        clock.set(60_000);
        s.put(b"k", 0, Some(b"early")).unwrap();
        // A record three hours ahead arrives while stream time is still at one minute.
        s.put(b"k", 3 * HOUR, Some(b"ahead")).unwrap();
        assert_eq!(s.fetch(b"k", 0).unwrap().as_deref(), Some(&b"early"[..]), "{name}: still open");
        assert!(s.put(b"k", 0, Some(b"updated")).unwrap().is_written(), "{name}: still writable");
        s.flush().unwrap();
        assert_eq!(s.fetch(b"k", 0).unwrap().as_deref(), Some(&b"updated"[..]), "{name}");
        // Stream time moves past retention: the early window expires.
        clock.set(3 * HOUR);
        assert!(!s.put(b"k", 60_000, Some(b"late")).unwrap().is_written(), "{name}: expired");
        s.put(b"k", 3 * HOUR, Some(b"ahead2")).unwrap();
        s.flush().unwrap();
        assert_eq!(s.fetch(b"k", 0).unwrap(), None, "{name}: expired by stream time");
        assert_eq!(s.fetch(b"k", 3 * HOUR).unwrap().as_deref(), Some(&b"ahead2"[..]), "{name}");
    }
}

#[test]
fn without_a_clock_the_newest_write_expires_older_windows() {
    let mut s =
        MemoryWindowStore::new("w", WindowStoreOptions::new(HOUR).segment_interval_ms(HOUR / 2)).unwrap();
    s.put(b"k", 0, Some(b"early")).unwrap();
    s.put(b"k", 3 * HOUR, Some(b"ahead")).unwrap();
    assert_eq!(s.fetch(b"k", 0).unwrap(), None, "Kafka Streams' rule: expired by the newest write");
}

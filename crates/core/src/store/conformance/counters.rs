//! Shared counters: read, updated atomically, forgotten.

use std::sync::Arc;

use crate::store::{Counter, Store};

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Absent counters read as zero; an update sees what was there and writes what it makes of
/// it; a zero count removes the counter; purging forgets the old ones.
pub async fn counters_roundtrip(store: Arc<dyn Store>) {
    let ab = keys(&["acct:a", "addr:192.0.2.1"]);
    assert_eq!(
        store.read_counters(&ab).await.unwrap(),
        vec![Counter::default(); 2]
    );
    let bump = |at_ms: i64| {
        move |c: &mut [Counter]| {
            for c in c {
                c.count += 1;
                c.at_ms = at_ms;
            }
        }
    };
    let before = store.update_counters(&ab, &bump(1_000)).await.unwrap();
    assert_eq!(before, vec![Counter::default(); 2]);
    let before = store.update_counters(&ab, &bump(2_000)).await.unwrap();
    let once = Counter {
        count: 1,
        at_ms: 1_000,
    };
    assert_eq!(before, vec![once; 2]);
    // Only the second key changes; the first is left as it is.
    let before = store
        .update_counters(&ab, &|c: &mut [Counter]| c[1].count = 0)
        .await
        .unwrap();
    assert_eq!(before[1].count, 2);
    let now = store.read_counters(&ab).await.unwrap();
    let twice = Counter {
        count: 2,
        at_ms: 2_000,
    };
    assert_eq!(now, vec![twice, Counter::default()]);
    store
        .update_counters(&keys(&["old"]), &bump(500))
        .await
        .unwrap();
    assert_eq!(store.purge_counters(1_500).await.unwrap(), 1);
    assert_eq!(
        store
            .read_counters(&keys(&["old", "acct:a"]))
            .await
            .unwrap(),
        vec![Counter::default(), twice]
    );
    // A key of any text, and no key at all.
    let odd = keys(&["ü'\"; DROP TABLE x --"]);
    store.update_counters(&odd, &bump(3_000)).await.unwrap();
    assert_eq!(store.read_counters(&odd).await.unwrap()[0].count, 1);
    assert!(
        store
            .update_counters(&[], &bump(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Concurrent updates of overlapping keys (given in either order) are serialised: each sees
/// the count the one before it left, none is lost, and none deadlocks.
pub async fn concurrent_counter_updates_lose_nothing(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let names = if i % 2 == 0 { ["x", "y"] } else { ["y", "x"] };
            let before = store
                .update_counters(&keys(&names), &|c: &mut [Counter]| {
                    for c in c {
                        c.count += 1;
                        c.at_ms = 1;
                    }
                })
                .await
                .unwrap();
            let x = if i % 2 == 0 { before[0] } else { before[1] };
            x.count
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..24).collect::<Vec<u32>>(),
        "each saw a different count"
    );
    let now = store.read_counters(&keys(&["x", "y"])).await.unwrap();
    assert_eq!((now[0].count, now[1].count), (24, 24));
}

//! Loom models of `shadow-runtime/src/sync/`: the files are the runtime's own, included by path
//! and compiled against loom's atomics and mutex, and every interleaving of the threads below is
//! explored. See that module's table for what each file guarantees.
#![cfg(test)]

/// What the included files import as `crate::sync`: loom's primitives instead of std's.
mod sync {
    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    pub(crate) use loom::sync::Mutex;
}

#[path = "../../../shadow-runtime/src/sync/capacity.rs"]
mod capacity;
#[path = "../../../shadow-runtime/src/sync/claim.rs"]
mod claim;
#[path = "../../../shadow-runtime/src/sync/gate.rs"]
mod gate;
#[path = "../../../shadow-runtime/src/sync/probes.rs"]
mod probes;
#[path = "../../../shadow-runtime/src/sync/tally.rs"]
mod tally;

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

/// Every interleaving with at most two preemptions per execution (tokio's loom tests use the same
/// bound in CI; `LOOM_MAX_PREEMPTIONS` overrides it): three threads with no bound would take
/// hours.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Three callers race for the places of a capacity of `cap`: never more holders than the cap at
/// once, the peak never above it, and every place given back.
fn capacity_model(cap: u64) {
    model(move || {
        let c = Arc::new(capacity::Capacity::new());
        let holders = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (c, holders) = (c.clone(), holders.clone());
                thread::spawn(move || {
                    if c.try_take(cap) {
                        let now = holders.fetch_add(1, SeqCst) + 1;
                        assert!(now <= cap, "{now} holders of {cap} places");
                        holders.fetch_sub(1, SeqCst);
                        c.give_back();
                        true
                    } else {
                        false
                    }
                })
            })
            .collect();
        let took = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|t| *t)
            .count() as u64;
        // The first caller always finds a free place.
        assert!(took >= 1);
        assert_eq!(c.held(), 0, "a place was not given back");
        assert!(c.peak() <= cap, "peak {} above {cap}", c.peak());
    });
}

#[test]
fn a_capacity_of_one_has_one_holder_at_most() {
    capacity_model(1);
}

#[test]
fn a_capacity_of_two_has_two_holders_at_most() {
    capacity_model(2);
}

/// A detached call's run and its deadline race for the ticket: it is resolved exactly once, and
/// the count of abandoned runs comes back to zero when the run ends.
#[test]
fn a_detached_call_is_resolved_exactly_once_by_its_run_or_its_deadline() {
    model(|| {
        let job = Arc::new(claim::Claim::new(7u32));
        let resolved = Arc::new(AtomicU32::new(0));
        let abandoned = Arc::new(AtomicU32::new(0));
        let deadline = {
            let (job, resolved, abandoned) = (job.clone(), resolved.clone(), abandoned.clone());
            thread::spawn(move || {
                if let Some(t) = job.expire() {
                    assert_eq!(t, 7);
                    abandoned.fetch_add(1, SeqCst);
                    resolved.fetch_add(1, SeqCst);
                }
            })
        };
        let run = {
            let (job, resolved, abandoned) = (job.clone(), resolved.clone(), abandoned.clone());
            thread::spawn(move || {
                let (t, was_abandoned) = job.finish();
                if was_abandoned {
                    assert!(t.is_none(), "the deadline took the ticket");
                    abandoned.fetch_sub(1, SeqCst);
                }
                if let Some(t) = t {
                    assert_eq!(t, 7);
                    resolved.fetch_add(1, SeqCst);
                }
            })
        };
        deadline.join().unwrap();
        run.join().unwrap();
        assert_eq!(resolved.load(SeqCst), 1, "resolved other than once");
        assert_eq!(abandoned.load(SeqCst), 0, "an abandonment never ended");
    });
}

/// Two callers race for the probes the timer thread grants (two, at half-open) and then
/// withdraws (the breaker closing or opening again): never more probes taken than granted, and
/// none left after the withdrawal.
#[test]
fn a_half_open_breaker_lets_through_at_most_its_probes() {
    model(|| {
        let p = Arc::new(probes::Probes::new());
        let taken = Arc::new(AtomicU32::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (p, taken) = (p.clone(), taken.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        if p.take() {
                            taken.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        p.grant(2);
        p.grant(0);
        for c in callers {
            c.join().unwrap();
        }
        assert!(
            taken.load(SeqCst) <= 2,
            "{} probes taken of 2",
            taken.load(SeqCst)
        );
        assert_eq!(p.left(), 0, "a probe outlived its withdrawal");
    });
}

/// The word a call reads, for a breaker state (0 closed, 1 open).
fn word_for(state: u8) -> u64 {
    if state == 0 {
        u64::MAX
    } else {
        2
    }
}

/// Two threads change the breaker's state at once (the timer closing it, a caller seeing the
/// candidate hung and opening it), each publishing the word for the state it reads.
fn gate_model(publish: fn(&gate::GateWord, &Mutex<u8>)) {
    model(move || {
        let word = Arc::new(gate::GateWord::new(2));
        let state = Arc::new(Mutex::new(1u8));
        let threads: Vec<_> = [0u8, 1u8]
            .into_iter()
            .map(|to| {
                let (word, state) = (word.clone(), state.clone());
                thread::spawn(move || {
                    *state.lock().unwrap() = to;
                    publish(&word, &state);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let now = *state.lock().unwrap();
        assert_eq!(
            word.load(),
            word_for(now),
            "the word disagrees with the state"
        );
    });
}

#[test]
fn the_gate_word_ends_up_agreeing_with_the_state_it_is_computed_from() {
    gate_model(|word, state| word.publish(|| word_for(*state.lock().unwrap())));
}

/// The same without the publication lock (compute, then store): the model finds the
/// interleaving where a word computed from an older state is stored last. This is why
/// `GateWord::publish` holds its lock.
#[test]
fn without_the_publication_lock_a_stale_word_can_win() {
    let found = std::panic::catch_unwind(|| {
        gate_model(|word, state| {
            let w = word_for(*state.lock().unwrap());
            word.publish(move || w);
        })
    });
    assert!(found.is_err(), "loom should find the stale publication");
}

/// A tally's writer adds to counts 0 and 1, moves its mark, adds to 0 and moves it again, while
/// a reader takes a turn when it sees the mark moved (readers take turns under a lock, as the
/// runtime's do); then a last turn. Each count is handed on exactly as often as it was added,
/// and the concurrent turn never hands on more than was added before it ended.
#[test]
fn every_addition_to_a_tally_is_handed_on_exactly_once() {
    model(|| {
        let t = Arc::new(tally::Tally::<2>::new());
        let mark = Arc::new(tally::Mark::new());
        let seen = Arc::new(Mutex::new((tally::Seen::new(&t), 0u32)));
        let turn = |t: &tally::Tally<2>, mark: &tally::Mark, seen: &Mutex<(tally::Seen, u32)>| {
            let mut got = [0u64; 2];
            let mut s = seen.lock().unwrap();
            let (seen, last) = &mut *s;
            if mark.moved_since(last) {
                seen.take(t, |i, n| got[i] += n);
            }
            got
        };
        let reader = {
            let (t, mark, seen) = (t.clone(), mark.clone(), seen.clone());
            thread::spawn(move || turn(&t, &mark, &seen))
        };
        t.add(0);
        t.add(1);
        mark.moved();
        t.add(0);
        mark.moved();
        let early = reader.join().unwrap();
        assert!(
            early[0] <= 2 && early[1] <= 1,
            "handed on more than added: {early:?}"
        );
        let rest = turn(&t, &mark, &seen);
        assert_eq!(
            [early[0] + rest[0], early[1] + rest[1]],
            [2, 1],
            "each addition handed on exactly once"
        );
    });
}

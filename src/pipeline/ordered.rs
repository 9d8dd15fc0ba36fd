//! Ordered parallel execution: jobs made one at a time on the calling
//! thread, run on a rayon pool, and their results handed over in the order
//! the jobs were made.
//!
//! ```text
//!  next() (this thread) ──permit──▶ work(job) on the pool ──▶ reorder by seq ──▶ consume (own thread)
//!        ▲                                                                            │
//!        └───────────────────────────── permit returned ◀─────────────────────────────┘
//! ```
//! With a pool of one thread the jobs are made, worked and consumed in
//! turn instead, one thread busy at a time, so `--threads 1` uses one core. At most `inflight` jobs exist at once (made, being worked on, or waiting
//! for an earlier one), so memory does not grow with the number of jobs. A
//! panic in `work` becomes an error, never a result that does not arrive; an
//! error from any side stops the others and is returned (the consumer's
//! first, as the root cause).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// What the producer hands over: a job for the pool, or a result it already has.
#[derive(Debug)]
pub enum Task<J, R> {
    /// Run `work` over this job on the pool.
    Run(J),
    /// Hand this result to the consumer in its turn, with no work.
    Ready(R),
}

/// Run every job `next` makes through `work` on `pool` and pass the results
/// to `consume` in the order the jobs were made. `next` returns `Ok(None)`
/// when there is nothing left; its errors, `work`'s and `consume`'s end the
/// run.
pub fn run_ordered<J, R>(
    pool: &rayon::ThreadPool,
    inflight: usize,
    mut next: impl FnMut() -> Result<Option<Task<J, R>>>,
    work: impl Fn(J) -> Result<R> + Sync,
    consume: impl FnMut(R) -> Result<()> + Send,
) -> Result<()>
where
    J: Send,
    R: Send,
{
    if pool.current_num_threads() == 1 {
        return run_in_turn(pool, next, work, consume);
    }
    let inflight = inflight.max(1);
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<(u64, Result<R>)>();
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(inflight);
    for _ in 0..inflight {
        let _ = permit_tx.send(());
    }
    let stop = AtomicBool::new(false);
    let (consumer_result, producer_result) = std::thread::scope(|ts| {
        let consumer = ts.spawn(|| {
            let result = consume_in_order(res_rx, permit_tx, consume);
            if result.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            result
        });
        let work = &work;
        let producer_result = pool.in_place_scope(|scope| -> Result<()> {
            let mut seq = 0u64;
            loop {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let task = match next() {
                    Ok(Some(task)) => task,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                };
                // The permit is taken only for a task that exists: taken
                // before `next`, the end of the input would leak one.
                if stop.load(Ordering::SeqCst) || permit_rx.recv().is_err() {
                    return Ok(());
                }
                let this = seq;
                seq += 1;
                match task {
                    Task::Ready(result) => {
                        let _ = res_tx.send((this, Ok(result)));
                    }
                    Task::Run(job) => {
                        let tx = res_tx.clone();
                        scope.spawn(move |_| {
                            // A panic must end the run with an error: a result
                            // that never arrives would leave the consumer
                            // waiting for it and the producer for a permit.
                            let _ = tx.send((this, run_caught(work, job)));
                        });
                    }
                }
            }
        });
        drop(res_tx);
        let consumer_result = consumer
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the writer thread panicked".into())));
        (consumer_result, producer_result)
    });
    // The consumer's error is the root cause when both failed (the producer
    // stops because of it).
    consumer_result?;
    producer_result
}

/// One worker thread asked for: make, work and consume each job in turn,
/// one thread busy at a time, so the run uses one core, as `--threads 1` promises
/// (with a reader and a writer thread beside one worker, it used up to
/// three). The results are the same, in the same order.
fn run_in_turn<J: Send, R: Send>(
    pool: &rayon::ThreadPool,
    mut next: impl FnMut() -> Result<Option<Task<J, R>>>,
    work: impl Fn(J) -> Result<R> + Sync,
    mut consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    while let Some(task) = next()? {
        let result = match task {
            Task::Ready(result) => result,
            // On the pool's thread, so that any parallel iterator inside
            // `work` stays on the pool (one thread), not rayon's global one.
            Task::Run(job) => pool.install(|| run_caught(&work, job))?,
        };
        consume(result)?;
    }
    Ok(())
}

/// `work(job)`, a panic in it an error (never a result that does not arrive).
fn run_caught<J, R>(work: &impl Fn(J) -> Result<R>, job: J) -> Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(job))).unwrap_or_else(|_| {
        Err(Error::Internal(
            "a worker thread panicked; nothing was written".into(),
        ))
    })
}

/// Hand results to `consume` in sequence order, returning a permit for each.
fn consume_in_order<R>(
    results: crossbeam_channel::Receiver<(u64, Result<R>)>,
    permits: crossbeam_channel::Sender<()>,
    mut consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let mut pending: BTreeMap<u64, Result<R>> = BTreeMap::new();
    let mut next = 0u64;
    for (seq, result) in results.iter() {
        pending.insert(seq, result);
        while let Some(result) = pending.remove(&next) {
            consume(result?)?;
            next += 1;
            let _ = permits.send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Jobs `0..n`, the later ones faster, so results arrive out of order.
    fn counter(n: u64) -> impl FnMut() -> Result<Option<Task<u64, u64>>> {
        let mut i = 0;
        move || {
            i += 1;
            Ok((i <= n).then_some(Task::Run(i - 1)))
        }
    }

    fn slow_square(j: u64) -> Result<u64> {
        std::thread::sleep(std::time::Duration::from_micros(50 * (20 - j % 20)));
        Ok(j * j)
    }

    #[test]
    fn results_arrive_in_job_order_whatever_the_thread_count() {
        for threads in [1, 2, 4] {
            let mut got = Vec::new();
            run_ordered(&pool(threads), 3, counter(100), slow_square, |r| {
                got.push(r);
                Ok(())
            })
            .unwrap();
            assert_eq!(
                got,
                (0..100).map(|j| j * j).collect::<Vec<_>>(),
                "{threads}"
            );
        }
    }

    #[test]
    fn one_thread_means_one_busy_thread_at_a_time() {
        // `--threads 1` promises one core: the producer, the worker and the
        // consumer never overlap.
        let busy = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let enter = || {
            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_micros(200));
        };
        let leave = || {
            busy.fetch_sub(1, Ordering::SeqCst);
        };
        let mut i = 0u64;
        let next = || {
            enter();
            i += 1;
            leave();
            Ok((i <= 60).then_some(Task::Run(i)))
        };
        let mut got = Vec::new();
        run_ordered(
            &pool(1),
            4,
            next,
            |j| {
                enter();
                leave();
                Ok(j)
            },
            |r| {
                enter();
                got.push(r);
                leave();
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got, (1..=60).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn ready_results_keep_their_place() {
        let mut i = 0u64;
        let next = move || {
            i += 1;
            Ok(match i {
                1..=3 => Some(Task::Run(i)),
                4 => Some(Task::Ready(1000)),
                5 => Some(Task::Run(5)),
                _ => None,
            })
        };
        let mut got = Vec::new();
        run_ordered(&pool(2), 2, next, slow_square, |r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![1, 4, 9, 1000, 25]);
    }

    #[test]
    fn at_most_inflight_jobs_exist_at_once() {
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut i = 0u64;
        let next = || {
            i += 1;
            if i > 200 {
                return Ok(None);
            }
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            Ok(Some(Task::Run(i)))
        };
        run_ordered(&pool(4), 5, next, slow_square, |_| {
            live.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        // `next` may make one job before it waits for a permit.
        assert!(peak.load(Ordering::SeqCst) <= 6, "{peak:?}");
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_hang() {
        let err = run_ordered(
            &pool(2),
            4,
            counter(50),
            |j| {
                if j == 7 {
                    panic!("job 7");
                }
                Ok(j)
            },
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    #[test]
    fn a_consumer_error_stops_the_producer() {
        let made = AtomicUsize::new(0);
        let next = || {
            made.fetch_add(1, Ordering::SeqCst);
            Ok(Some(Task::Run(1u64)))
        };
        let mut seen = 0;
        let err = run_ordered(&pool(2), 3, next, Ok, |_| {
            seen += 1;
            if seen == 10 {
                return Err(Error::Privacy("enough".into()));
            }
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, Error::Privacy(_)), "{err:?}");
        // Without the stop, `next` (an endless producer) would never return.
        assert!(made.load(Ordering::SeqCst) < 10 + 3 + 2);
    }

    #[test]
    fn producer_and_work_errors_are_returned() {
        let mut i = 0;
        let next = move || {
            i += 1;
            if i == 5 {
                return Err(Error::Interrupted(2));
            }
            Ok(Some(Task::Run(i)))
        };
        let err = run_ordered(&pool(2), 2, next, |j: u64| Ok(j), |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Interrupted(2)), "{err:?}");

        let mut got = Vec::new();
        let err = run_ordered(
            &pool(2),
            2,
            counter(20),
            |j| {
                if j == 3 {
                    Err(Error::Privacy("job 3".into()))
                } else {
                    Ok(j)
                }
            },
            |r| {
                got.push(r);
                Ok(())
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Privacy(_)), "{err:?}");
        assert_eq!(
            got,
            vec![0, 1, 2],
            "nothing after the failed job is consumed"
        );
    }
}

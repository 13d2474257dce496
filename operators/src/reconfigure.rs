//! Live task reconfiguration: when a connector asks for new task configs
//! (Kafka Connect's `ConnectorContext.requestTaskReconfiguration`), the job
//! replaces its tasks at an epoch boundary, without stopping the dataflow
//! or the process, and without loss or duplicates.
//!
//! The steps, led by worker 0 (which holds the connector):
//!
//! 1. **Stop.** Worker 0 sends `Stop(g)` to every worker. Each worker's
//!    source operator stops its tasks, drains what they had already sent,
//!    closes its open epoch `e_w` with their last offsets, and answers
//!    `Stopped(g, w, e_w)`. From then on it emits nothing until step 3;
//!    its epochs keep advancing, so snapshots keep being taken.
//! 2. **Snapshot.** Once every worker answered, worker 0 waits until the
//!    snapshot covering `E = max(e_w)` is durable: it holds every offset
//!    the old tasks reached, merged over all workers.
//! 3. **Start.** Worker 0 asks the connector for task configs and sends
//!    `Start(g, configs, offsets)` — the offsets of that snapshot — to
//!    every worker, which starts its share of the new tasks (task `i` on
//!    worker `i % workers`) with those offsets in their
//!    `OffsetStorageReader`.
//!
//! No record is emitted by an old task after it stopped, and a new task
//! starts from exactly the offsets the snapshot holds, so nothing is read
//! twice or skipped. Requests that come while one reconfiguration runs, or
//! within one snapshot interval after it, are coalesced into the next one:
//! a connector that asks every few milliseconds gets a reconfiguration per
//! interval, and records flow in between.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use timely::dataflow::operators::{Exchange, Input, Inspect};
use timely::scheduling::Activator;
use timely::worker::Worker;

use timely_connect::api::TaskConfig;
use timely_connect::data::Offsets;

/// A message between workers about a reconfiguration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// To every worker: stop your tasks (generation `g`).
    Stop { generation: u64 },
    /// To worker 0: this worker's tasks stopped; their offsets are in
    /// epochs `<= epoch`.
    Stopped {
        generation: u64,
        worker: usize,
        epoch: u64,
    },
    /// To every worker: every worker stopped by `epoch`; close your empty
    /// epochs up to it now, so its snapshot need not wait for timers.
    Align { generation: u64, epoch: u64 },
    /// To every worker: start these tasks, from these offsets.
    Start {
        generation: u64,
        task_configs: Vec<TaskConfig>,
        offsets: Offsets,
    },
}

type ControlInput = timely::dataflow::InputHandle<
    u64,
    timely::container::CapacityContainerBuilder<Vec<(usize, Control)>>,
>;

/// What a worker received, for its source operator and (on worker 0) for
/// the leader.
#[derive(Default)]
pub(crate) struct Inbox {
    /// `Stop` and `Start`, for the source operator.
    pub(crate) source: RefCell<VecDeque<Control>>,
    /// `Stopped`, for the leader (worker 0).
    pub(crate) leader: RefCell<VecDeque<Control>>,
    /// Wakes the source operator when a message comes.
    pub(crate) wake: RefCell<Option<Activator>>,
}

/// The control dataflow's input on one worker, and what it received.
pub(crate) struct ControlChannel {
    input: RefCell<Option<ControlInput>>,
    time: Cell<u64>,
    pub(crate) inbox: Rc<Inbox>,
}

impl ControlChannel {
    /// Builds the control dataflow on `worker` (every worker, same order).
    pub(crate) fn new(worker: &mut Worker) -> ControlChannel {
        let inbox = Rc::new(Inbox::default());
        let received = inbox.clone();
        let input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Vec<(usize, Control)>>();
            stream
                .exchange(|(target, _): &(usize, Control)| *target as u64)
                .inspect(move |(_, message)| {
                    let queue = match message {
                        Control::Stopped { .. } => &received.leader,
                        Control::Stop { .. } | Control::Align { .. } | Control::Start { .. } => {
                            &received.source
                        }
                    };
                    queue.borrow_mut().push_back(message.clone());
                    if let Some(wake) = received.wake.borrow().as_ref() {
                        wake.activate();
                    }
                });
            input
        });
        ControlChannel {
            input: RefCell::new(Some(input)),
            time: Cell::new(0),
            inbox,
        }
    }

    /// Sends `message` to worker `target` now.
    pub(crate) fn send(&self, target: usize, message: Control) {
        self.send_all([(target, message)]);
    }

    /// Sends `message` to every worker `0..peers`.
    pub(crate) fn broadcast(&self, peers: usize, message: &Control) {
        self.send_all((0..peers).map(|t| (t, message.clone())));
    }

    fn send_all(&self, messages: impl IntoIterator<Item = (usize, Control)>) {
        let mut input = self.input.borrow_mut();
        let Some(input) = input.as_mut() else {
            return;
        };
        for m in messages {
            input.send(m);
        }
        // Advancing the time pushes the buffered messages out.
        let next = self.time.get() + 1;
        self.time.set(next);
        input.advance_to(next);
    }

    /// Closes the input, so the worker can finish.
    pub(crate) fn close(&self) {
        if let Ok(mut input) = self.input.try_borrow_mut() {
            *input = None;
        }
    }
}

/// Where worker 0 is in a reconfiguration.
#[derive(Debug)]
enum Phase {
    Idle,
    /// `Stop(g)` sent; the epochs at which workers stopped, by worker.
    Stopping {
        generation: u64,
        stopped: BTreeMap<usize, u64>,
    },
    /// Every worker stopped; waiting for the snapshot of `epoch`.
    Snapshot {
        generation: u64,
        epoch: u64,
    },
}

/// Worker 0's side: coalesces requests and runs the three steps.
pub(crate) struct Leader {
    phase: Phase,
    generation: u64,
    requested: bool,
    /// When the last reconfiguration finished (requests wait one interval).
    finished: Option<Instant>,
    spacing: Duration,
    /// How many reconfigurations were asked for and how many were run.
    pub(crate) asked: u64,
    pub(crate) done: u64,
    /// The task configs running now.
    current: Vec<TaskConfig>,
}

/// What the leader needs done by the job.
pub(crate) enum LeaderStep {
    /// Nothing now.
    Wait,
    /// Send `Stop` to every worker.
    Stop(u64),
    /// Every worker stopped by `epoch`: send `Align` to every worker.
    Align { generation: u64, epoch: u64 },
    /// Is the snapshot of this epoch durable? If so, start generation `g`.
    StartIfDurable { generation: u64, epoch: u64 },
}

impl Leader {
    pub(crate) fn new(spacing: Duration, current: Vec<TaskConfig>) -> Leader {
        Leader {
            current,
            phase: Phase::Idle,
            generation: 0,
            requested: false,
            finished: None,
            spacing,
            asked: 0,
            done: 0,
        }
    }

    /// The connector asked for new task configs.
    pub(crate) fn request(&mut self) {
        self.asked += 1;
        self.requested = true;
    }

    /// Whether a reconfiguration is under way.
    pub(crate) fn busy(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// Takes the `Stopped` answers in `inbox` and says what to do next.
    pub(crate) fn step(&mut self, inbox: &Inbox, peers: usize) -> LeaderStep {
        while let Some(message) = inbox.leader.borrow_mut().pop_front() {
            if let (
                Control::Stopped {
                    generation,
                    worker,
                    epoch,
                },
                Phase::Stopping {
                    generation: g,
                    stopped,
                },
            ) = (message, &mut self.phase)
            {
                if generation == *g {
                    stopped.insert(worker, epoch);
                }
            }
        }
        match &self.phase {
            Phase::Idle => {
                let spaced = self.finished.is_none_or(|t| t.elapsed() >= self.spacing);
                if self.requested && spaced {
                    self.requested = false;
                    self.generation += 1;
                    self.phase = Phase::Stopping {
                        generation: self.generation,
                        stopped: BTreeMap::new(),
                    };
                    return LeaderStep::Stop(self.generation);
                }
                LeaderStep::Wait
            }
            Phase::Stopping {
                generation,
                stopped,
            } => {
                if stopped.len() < peers {
                    return LeaderStep::Wait;
                }
                let epoch = stopped.values().copied().max().unwrap_or(0);
                let generation = *generation;
                self.phase = Phase::Snapshot { generation, epoch };
                LeaderStep::Align { generation, epoch }
            }
            Phase::Snapshot { generation, epoch } => LeaderStep::StartIfDurable {
                generation: *generation,
                epoch: *epoch,
            },
        }
    }

    /// Whether `configs` are the running task configs.
    pub(crate) fn is_current(&self, configs: &[TaskConfig]) -> bool {
        self.current == configs
    }

    /// The new tasks (of `configs`) were sent: back to idle.
    pub(crate) fn started(&mut self, configs: Vec<TaskConfig>) {
        self.current = configs;
        self.phase = Phase::Idle;
        self.finished = Some(Instant::now());
        self.done += 1;
    }

    /// Whether a request waits for its turn (and when it may go).
    pub(crate) fn next_turn(&self) -> Option<Instant> {
        if !self.requested || self.busy() {
            return None;
        }
        Some(
            self.finished
                .map_or_else(Instant::now, |t| t + self.spacing),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(inbox: &Inbox, generation: u64, worker: usize, epoch: u64) {
        inbox.leader.borrow_mut().push_back(Control::Stopped {
            generation,
            worker,
            epoch,
        });
    }

    #[test]
    fn a_reconfiguration_waits_for_every_worker_and_the_newest_epoch() {
        let inbox = Inbox::default();
        let mut leader = Leader::new(Duration::ZERO, Vec::new());
        assert!(matches!(leader.step(&inbox, 3), LeaderStep::Wait));
        leader.request();
        assert!(matches!(leader.step(&inbox, 3), LeaderStep::Stop(1)));
        stopped(&inbox, 1, 0, 7);
        stopped(&inbox, 1, 2, 9);
        assert!(matches!(leader.step(&inbox, 3), LeaderStep::Wait));
        // A stale answer of another generation does not count.
        stopped(&inbox, 0, 1, 99);
        assert!(matches!(leader.step(&inbox, 3), LeaderStep::Wait));
        stopped(&inbox, 1, 1, 8);
        assert!(matches!(
            leader.step(&inbox, 3),
            LeaderStep::Align {
                generation: 1,
                epoch: 9
            }
        ));
        assert!(matches!(
            leader.step(&inbox, 3),
            LeaderStep::StartIfDurable {
                generation: 1,
                epoch: 9
            }
        ));
        leader.started(Vec::new());
        assert!(!leader.busy());
    }

    #[test]
    fn a_storm_of_requests_is_coalesced_into_one_per_interval() {
        let inbox = Inbox::default();
        let mut leader = Leader::new(Duration::from_secs(3600), Vec::new());
        leader.request();
        assert!(matches!(leader.step(&inbox, 1), LeaderStep::Stop(1)));
        for _ in 0..1000 {
            leader.request(); // while one runs
        }
        stopped(&inbox, 1, 0, 4);
        assert!(matches!(leader.step(&inbox, 1), LeaderStep::Align { .. }));
        leader.started(Vec::new());
        for _ in 0..1000 {
            leader.request(); // right after it
        }
        // One more is owed, but not before the interval has passed.
        assert!(matches!(leader.step(&inbox, 1), LeaderStep::Wait));
        assert!(leader.next_turn().is_some());
        assert_eq!((leader.asked, leader.done), (2001, 1));
    }
}

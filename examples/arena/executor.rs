//! Which executor runs a headless host's schedules.
//!
//! Bevy's multi-threaded executor hands each schedule's systems to worker
//! threads and waits for them. A host's game schedules are small (the
//! arena's whole tick is about 75 µs of work), so on a 2-core machine the
//! hand-offs cost far more than the parallelism saves:
//! `cargo bench --bench replication` measured the host's update at p50
//! 727 µs with it and 73 µs on one thread. A headless host draws nothing
//! that could use the other cores, so it runs every schedule on its own
//! thread. A windowed player keeps Bevy's default: rendering is where the
//! other cores help.

use bevy::{ecs::schedule::SingleThreadedExecutor, prelude::*};

/// Runs every schedule `app` has now on the calling thread: call it once
/// the app's plugins and systems are all added.
pub fn run_schedules_on_one_thread(app: &mut App) {
    let mut schedules = app.world_mut().resource_mut::<Schedules>();
    for (_, schedule) in schedules.iter_mut() {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
}

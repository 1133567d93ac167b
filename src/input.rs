//! Player inputs: written by each player, applied by the host per slot.
//!
//! A game registers its input type once with
//! [`InputAppExt::add_player_input`]. Each player writes [`LocalInput`]; every
//! `FixedUpdate` tick a client ships it to the host on the unreliable channel
//! together with the few inputs before it, so that a single lost packet drops
//! nothing. The host queues what arrives per slot (a small jitter buffer) and,
//! before [`GameplaySystems`] run, sets [`PlayerInputs`]: one current input
//! per slot. The slot comes from the link the packet arrived on, never from
//! the packet, so a client can only ever drive its own player. The host's own
//! input takes no network path.
//!
//! [`GameplaySystems`]: crate::session::GameplaySystems

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_replicon::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    common_conditions::{gameplay_running, is_client, is_host},
    session::{ClientSlot, GameplaySystems, PlayerSlot, Session},
};

/// How many inputs each packet carries: the current one and the ones before.
pub const INPUT_REDUNDANCY: usize = 8;

/// Slots a room can have, the host's included: the protocol's room size.
pub const MAX_SLOTS: usize = bevy_p2p_protocol::room::MAX_PLAYERS;

/// The most inputs the host keeps queued per slot (133 ms at 60 Hz, enough
/// for 100 ms of jitter); beyond it the oldest are dropped so that a burst
/// after a stall does not turn into lasting delay.
const MAX_QUEUED: usize = 8;

/// Above this many queued inputs the host applies two per tick, the older
/// one only for a moment, so the queue drains back to a short delay.
const CATCH_UP_ABOVE: usize = 6;

/// What a game's input type needs.
pub trait PlayerInput:
    Serialize
    + DeserializeOwned
    + Clone
    + Default
    + PartialEq
    + Send
    + Sync
    + core::fmt::Debug
    + 'static
{
}

impl<T> PlayerInput for T where
    T: Serialize
        + DeserializeOwned
        + Clone
        + Default
        + PartialEq
        + Send
        + Sync
        + core::fmt::Debug
        + 'static
{
}

/// Registers player inputs.
pub trait InputAppExt {
    /// Registers `T` as the game's per-player input. Call it on the host and
    /// the clients alike, in the same order as other replicated types.
    fn add_player_input<T: PlayerInput>(&mut self) -> &mut Self;
}

impl InputAppExt for App {
    fn add_player_input<T: PlayerInput>(&mut self) -> &mut Self {
        self.init_resource::<LocalInput<T>>()
            .init_resource::<PlayerInputs<T>>()
            .init_resource::<InputQueues<T>>()
            .init_resource::<InputHistory<T>>()
            .add_client_message::<InputBatch<T>>(Channel::Unreliable)
            .configure_sets(
                FixedUpdate,
                (InputSystems::Ship, InputSystems::Apply).before(GameplaySystems),
            )
            .add_systems(
                PreUpdate,
                queue_client_inputs::<T>
                    .after(ServerSystems::Receive)
                    .run_if(is_host),
            )
            .add_systems(
                FixedUpdate,
                (
                    ship_local_input::<T>
                        .in_set(InputSystems::Ship)
                        .run_if(is_client.and_then(gameplay_running)),
                    apply_inputs::<T>
                        .in_set(InputSystems::Apply)
                        .run_if(is_host.and_then(gameplay_running)),
                ),
            )
    }
}

/// Where inputs move, in [`FixedUpdate`], before [`GameplaySystems`].
#[derive(SystemSet, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InputSystems {
    /// On a client: the local input is sent to the host.
    Ship,
    /// On the host: [`PlayerInputs`] is set for this tick.
    Apply,
}

/// This player's input: the game writes it, every frame or every tick.
#[derive(Resource, Default, Debug, Clone, Deref, DerefMut)]
pub struct LocalInput<T>(pub T);

/// On the host: each slot's input for the current tick.
///
/// A slot keeps its last input when nothing new arrived (a late packet), and
/// is reset to `T::default()` when its player leaves.
#[derive(Resource, Debug, Clone)]
pub struct PlayerInputs<T> {
    inputs: [T; MAX_SLOTS],
}

impl<T: Default> Default for PlayerInputs<T> {
    fn default() -> Self {
        Self {
            inputs: core::array::from_fn(|_| T::default()),
        }
    }
}

impl<T> PlayerInputs<T> {
    /// The current input of `slot`.
    pub fn get(&self, slot: PlayerSlot) -> Option<&T> {
        self.inputs.get(slot.index())
    }
}

/// The wire form: inputs for consecutive ticks of the sender, oldest first,
/// the last one for `tick`.
#[derive(Message, Serialize, Deserialize, Clone, Debug)]
struct InputBatch<T> {
    tick: u32,
    inputs: Vec<T>,
}

/// On a client: the tick counter and the last few inputs sent.
#[derive(Resource)]
struct InputHistory<T> {
    tick: u32,
    recent: VecDeque<T>,
}

impl<T> Default for InputHistory<T> {
    fn default() -> Self {
        Self {
            tick: 0,
            recent: VecDeque::with_capacity(INPUT_REDUNDANCY),
        }
    }
}

/// On the host: per slot, the newest tick seen and the inputs not yet applied.
#[derive(Resource)]
struct InputQueues<T> {
    slots: [SlotQueue<T>; MAX_SLOTS],
}

struct SlotQueue<T> {
    newest_tick: Option<u32>,
    pending: VecDeque<T>,
}

impl<T> Default for InputQueues<T> {
    fn default() -> Self {
        Self {
            slots: core::array::from_fn(|_| SlotQueue {
                newest_tick: None,
                pending: VecDeque::new(),
            }),
        }
    }
}

impl<T: Clone> SlotQueue<T> {
    /// Queues the inputs of `batch` this slot has not seen, in tick order.
    fn accept(&mut self, batch: &InputBatch<T>) {
        if batch.inputs.is_empty() || batch.inputs.len() > INPUT_REDUNDANCY {
            return;
        }
        let first_tick = batch
            .tick
            .wrapping_sub(batch.inputs.len() as u32)
            .wrapping_add(1);
        for (offset, input) in batch.inputs.iter().enumerate() {
            let tick = first_tick.wrapping_add(offset as u32);
            // Ticks are compared by distance so that a wrapped counter still
            // counts as newer; anything not ahead is a duplicate or late.
            let is_new = self
                .newest_tick
                .is_none_or(|newest| tick.wrapping_sub(newest) as i32 > 0);
            if is_new {
                self.newest_tick = Some(tick);
                self.pending.push_back(input.clone());
            }
        }
        while self.pending.len() > MAX_QUEUED {
            self.pending.pop_front();
        }
    }
}

fn ship_local_input<T: PlayerInput>(
    local: Res<LocalInput<T>>,
    mut history: ResMut<InputHistory<T>>,
    mut batches: MessageWriter<InputBatch<T>>,
) {
    history.tick = history.tick.wrapping_add(1);
    if history.recent.len() == INPUT_REDUNDANCY {
        history.recent.pop_front();
    }
    history.recent.push_back(local.0.clone());
    batches.write(InputBatch {
        tick: history.tick,
        inputs: history.recent.iter().cloned().collect(),
    });
}

fn queue_client_inputs<T: PlayerInput>(
    mut batches: MessageReader<FromClient<InputBatch<T>>>,
    mut queues: ResMut<InputQueues<T>>,
    clients: Query<&ClientSlot>,
) {
    for batch in batches.read() {
        // The host's own input never comes this way; a client's slot is the
        // one bound to its link.
        let Some(client) = batch.client_id.entity() else {
            continue;
        };
        let Ok(ClientSlot(slot)) = clients.get(client) else {
            continue;
        };
        if let Some(queue) = queues.slots.get_mut(slot.index()) {
            queue.accept(&batch.message);
        }
    }
}

fn apply_inputs<T: PlayerInput>(
    session: Res<Session>,
    local: Res<LocalInput<T>>,
    mut queues: ResMut<InputQueues<T>>,
    mut inputs: ResMut<PlayerInputs<T>>,
    clients: Query<&ClientSlot>,
) {
    let seated: Vec<PlayerSlot> = clients.iter().map(|slot| slot.0).collect();
    for (index, (queue, current)) in queues
        .slots
        .iter_mut()
        .zip(inputs.inputs.iter_mut())
        .enumerate()
    {
        if index == PlayerSlot::HOST.index() {
            if session.local_slot == Some(PlayerSlot::HOST) {
                *current = local.0.clone();
            }
            continue;
        }
        if !seated.iter().any(|slot| slot.index() == index) {
            // Nobody in this slot: the next player starts from a clean input.
            *queue = SlotQueue {
                newest_tick: None,
                pending: VecDeque::new(),
            };
            *current = T::default();
            continue;
        }
        if queue.pending.len() > CATCH_UP_ABOVE {
            queue.pending.pop_front();
        }
        if let Some(next) = queue.pending.pop_front() {
            *current = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(tick: u32, inputs: &[u8]) -> InputBatch<u8> {
        InputBatch {
            tick,
            inputs: inputs.to_vec(),
        }
    }

    #[test]
    fn redundant_copies_are_queued_once() {
        let mut queue = SlotQueue {
            newest_tick: None,
            pending: VecDeque::new(),
        };
        queue.accept(&batch(1, &[1]));
        queue.accept(&batch(2, &[1, 2]));
        queue.accept(&batch(2, &[1, 2]));
        assert_eq!(queue.pending, [1, 2]);
    }

    #[test]
    fn a_lost_packet_is_filled_by_the_next() {
        let mut queue = SlotQueue {
            newest_tick: None,
            pending: VecDeque::new(),
        };
        queue.accept(&batch(1, &[1]));
        // Tick 2's packet is lost; tick 3's carries it.
        queue.accept(&batch(3, &[1, 2, 3]));
        assert_eq!(queue.pending, [1, 2, 3]);
    }

    #[test]
    fn late_and_oversized_batches_change_nothing() {
        let mut queue = SlotQueue {
            newest_tick: Some(10),
            pending: VecDeque::new(),
        };
        queue.accept(&batch(9, &[9]));
        queue.accept(&batch(20, &[1, 2, 3, 4, 5, 6, 7, 8, 9]));
        assert!(queue.pending.is_empty());
        assert_eq!(queue.newest_tick, Some(10));
    }

    #[test]
    fn the_queue_stays_short() {
        let mut queue = SlotQueue {
            newest_tick: None,
            pending: VecDeque::new(),
        };
        queue.accept(&batch(8, &[1, 2, 3, 4, 5, 6, 7, 8]));
        queue.accept(&batch(10, &[3, 4, 5, 6, 7, 8, 9, 10]));
        assert_eq!(queue.pending, [3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn counter_wraps() {
        let mut queue = SlotQueue {
            newest_tick: Some(u32::MAX),
            pending: VecDeque::new(),
        };
        queue.accept(&batch(0, &[7]));
        assert_eq!(queue.pending, [7]);
    }
}

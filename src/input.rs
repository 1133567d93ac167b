//! Player inputs: written by each player, applied by the host per slot.
//!
//! A game registers its input type once with
//! [`InputAppExt::add_player_input`]. Each player writes [`LocalInput`]; every
//! `FixedUpdate` tick a client ships it to the host on the unreliable channel
//! together with the few inputs before it, so that a single lost packet drops
//! nothing. The host queues what arrives per slot (a jitter buffer only as
//! deep as the link needs, see `buffer.rs`) and, before [`GameplaySystems`]
//! run, sets [`PlayerInputs`]: one current input per slot. The slot comes
//! from the link the packet arrived on, never from the packet, so a client
//! can only ever drive its own player. The host's own input takes no network
//! path.
//!
//! Each input carries the number of the client's tick it was written on
//! ([`ShippedInputTick`] on the client), and [`PlayerInputs::input_tick`]
//! gives it back on the host: a game that predicts a player's own movement
//! pairs the host's state with that player's inputs by it.
//!
//! [`GameplaySystems`]: crate::session::GameplaySystems

mod buffer;

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_replicon::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use self::buffer::SlotQueue;
use crate::{
    common_conditions::{gameplay_running, is_client, is_host},
    session::{ClientSlot, GameplaySystems, PlayerSlot, Session},
};

/// How many inputs each packet carries: the current one and the ones before.
pub const INPUT_REDUNDANCY: usize = 8;

/// Slots a room can have, the host's included: the protocol's room size.
pub const MAX_SLOTS: usize = bevy_p2p_protocol::room::MAX_PLAYERS;

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
            .init_resource::<ShippedInputTick>()
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

/// On a client: the number of the tick whose input it shipped last, counted
/// from 1 by [`InputSystems::Ship`] each `FixedUpdate` tick of play. The
/// host gives it back per slot as [`PlayerInputs::input_tick`].
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippedInputTick(pub u32);

/// On the host: each slot's input for the current tick.
///
/// A slot keeps its last input when nothing new arrived (a late packet), and
/// is reset to `T::default()` when its player leaves.
#[derive(Resource, Debug, Clone)]
pub struct PlayerInputs<T> {
    inputs: [T; MAX_SLOTS],
    /// Per slot, the client's tick the current input was written on.
    ticks: [Option<u32>; MAX_SLOTS],
    /// Per slot, the inputs queued behind the current one.
    delays: [u8; MAX_SLOTS],
}

impl<T: Default> Default for PlayerInputs<T> {
    fn default() -> Self {
        Self {
            inputs: core::array::from_fn(|_| T::default()),
            ticks: [None; MAX_SLOTS],
            delays: [0; MAX_SLOTS],
        }
    }
}

impl<T> PlayerInputs<T> {
    /// The current input of `slot`.
    pub fn get(&self, slot: PlayerSlot) -> Option<&T> {
        self.inputs.get(slot.index())
    }

    /// The client's tick (its [`ShippedInputTick`]) that `slot`'s current
    /// input was written on; `None` for the host's own slot, an empty one,
    /// or a client whose first input has not come. When no new input came
    /// this tick, the slot repeats its last one and this stays the same.
    pub fn input_tick(&self, slot: PlayerSlot) -> Option<u32> {
        self.ticks.get(slot.index()).copied().flatten()
    }

    /// How many ticks `slot`'s input waits on the host after it arrived:
    /// the inputs queued behind the current one. The host's own slot and
    /// empty slots wait none. The queue keeps only the depth the link's
    /// jitter needs: 0 or 1 on a clean link, and it drains back there
    /// within a second after a burst.
    pub fn delay_ticks(&self, slot: PlayerSlot) -> Option<usize> {
        self.delays
            .get(slot.index())
            .map(|&delay| usize::from(delay))
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

impl<T> Default for InputQueues<T> {
    fn default() -> Self {
        Self {
            slots: core::array::from_fn(|_| SlotQueue::default()),
        }
    }
}

fn ship_local_input<T: PlayerInput>(
    local: Res<LocalInput<T>>,
    mut history: ResMut<InputHistory<T>>,
    mut shipped: ResMut<ShippedInputTick>,
    mut batches: MessageWriter<InputBatch<T>>,
) {
    history.tick = history.tick.wrapping_add(1);
    shipped.0 = history.tick;
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
            queue.accept(batch.message.tick, &batch.message.inputs, INPUT_REDUNDANCY);
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
    let PlayerInputs {
        inputs,
        ticks,
        delays,
    } = &mut *inputs;
    for (index, (((queue, current), current_tick), delay)) in queues
        .slots
        .iter_mut()
        .zip(inputs.iter_mut())
        .zip(ticks.iter_mut())
        .zip(delays.iter_mut())
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
            *queue = SlotQueue::default();
            *current = T::default();
            *current_tick = None;
            *delay = 0;
            continue;
        }
        if let Some((tick, next)) = queue.take() {
            *current = next;
            *current_tick = Some(tick);
        }
        *delay = u8::try_from(queue.delay()).unwrap_or(u8::MAX);
    }
}

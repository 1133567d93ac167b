//! The deterministic tier: a host and clients as separate apps in one
//! process, linked by in-memory links with a seeded conditioner, time stepped
//! by hand. Every run is the same run.

use core::time::Duration;
use std::collections::{BTreeSet, HashMap};

use bevy::prelude::*;
use bevy_p2p_multiplayer::{
    prelude::*,
    testing::MemoryRoom,
    transport::{Delivery, LinkConditions, Transport, bridge::MalformedPacketReceived},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The test game's input: a direction and a sequence number, so that the
/// host can tell which of a client's inputs it applied.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
struct TestInput {
    x: i8,
    y: i8,
    seq: u16,
}

/// A player's position, moved by the host from the player's input.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug, Default)]
struct Pos([f32; 2]);

/// Gameplay ticks this app ran: stops while the game is paused.
#[derive(Resource, Default)]
struct GameTicks(u64);

/// How many of each notification this app has seen.
#[derive(Resource, Default, Debug)]
struct Seen {
    malformed: usize,
    cut_offs: Vec<PeerCutOff>,
    host_lost: usize,
    host_returned: usize,
    game_ended: usize,
}

fn count_notifications(
    mut seen: ResMut<Seen>,
    mut malformed: MessageReader<MalformedPacketReceived>,
    mut cut_offs: MessageReader<PeerCutOff>,
    mut lost: MessageReader<HostLost>,
    mut returned: MessageReader<HostReturned>,
    mut ended: MessageReader<GameEnded>,
) {
    seen.malformed += malformed.read().count();
    seen.cut_offs.extend(cut_offs.read().copied());
    seen.host_lost += lost.read().count();
    seen.host_returned += returned.read().count();
    seen.game_ended += ended.read().count();
}

/// On the host: the input sequence numbers applied, per slot.
#[derive(Resource, Default)]
struct Applied(HashMap<u8, BTreeSet<u16>>);

fn game(app: &mut App) {
    app.add_player_input::<TestInput>()
        .replicate::<Pos>()
        .init_resource::<GameTicks>()
        .init_resource::<Applied>()
        .init_resource::<Seen>()
        .add_systems(Last, count_notifications)
        .add_observer(give_position)
        .add_systems(
            FixedUpdate,
            (
                move_players.run_if(is_host),
                |mut ticks: ResMut<GameTicks>| ticks.0 += 1,
            )
                .in_set(GameplaySystems),
        );
}

fn give_position(add: On<Add, Player>, mut commands: Commands, role: Option<Res<Role>>) {
    if role.as_deref() == Some(&Role::Host) {
        commands.entity(add.entity).insert(Pos::default());
    }
}

fn move_players(
    inputs: Res<PlayerInputs<TestInput>>,
    mut applied: ResMut<Applied>,
    mut players: Query<(&Player, &mut Pos)>,
) {
    for (player, mut pos) in &mut players {
        let Some(input) = inputs.get(player.slot) else {
            continue;
        };
        applied
            .0
            .entry(player.slot.0)
            .or_default()
            .insert(input.seq);
        if input.x != 0 || input.y != 0 {
            pos.0[0] += f32::from(input.x);
            pos.0[1] += f32::from(input.y);
        }
    }
}

fn set_input(app: &mut App, x: i8, y: i8) {
    let mut input = app.world_mut().resource_mut::<LocalInput<TestInput>>();
    input.x = x;
    input.y = y;
    input.seq = input.seq.wrapping_add(1);
}

fn positions(app: &mut App) -> Vec<(u8, [f32; 2])> {
    let mut all: Vec<(u8, [f32; 2])> = app
        .world_mut()
        .query::<(&Player, &Pos)>()
        .iter(app.world())
        .map(|(player, pos)| (player.slot.0, pos.0))
        .collect();
    all.sort_by_key(|(slot, _)| *slot);
    all
}

fn local_slot(app: &App) -> PlayerSlot {
    app.world()
        .resource::<Session>()
        .local_slot
        .expect("every player has a slot")
}

fn status(app: &App) -> SessionStatus {
    app.world().resource::<Session>().status.clone()
}

#[test]
fn six_players_see_six_players_with_distinct_slots() {
    let mut room = MemoryRoom::new(5, 1, game);
    room.step_until(120, |room| {
        room.clients()
            .chain([&room.host])
            .all(|app| app.world().resource::<Roster>().players.len() == 6)
    });
    let mut slots: Vec<u8> = (0..5).map(|i| local_slot(room.client(i)).0).collect();
    slots.push(local_slot(&room.host).0);
    slots.sort();
    assert_eq!(slots, [0, 1, 2, 3, 4, 5]);
    let roster = room.client(2).world().resource::<Roster>().clone();
    assert_eq!(roster.players.iter().filter(|p| p.is_local).count(), 1);
    assert_eq!(roster.players.iter().filter(|p| p.is_host).count(), 1);
    // Each client told the server once that its link came up, direct.
    room.step_until(60, |room| room.api().join_reports().len() == 5);
    for _ in 0..60 {
        room.step();
    }
    let reports = room.api().join_reports();
    assert_eq!(reports.len(), 5, "one report per seat: {reports:?}");
    assert!(
        reports.iter().all(|report| matches!(
            report,
            bevy_p2p_protocol::api::JoinOutcome::Connected { relayed: false, .. }
        )),
        "{reports:?}"
    );
    // The host leaves: one session report, six players at the peak.
    room.host.world_mut().write_message(LobbyRequest::Leave);
    for _ in 0..10 {
        room.step();
    }
    let sessions = room.api().session_reports();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].player_count, 6, "{sessions:?}");
}

#[test]
fn every_input_reaches_its_own_slot_and_state_converges() {
    let mut room = MemoryRoom::new(5, 2, game);
    room.start_game();
    for tick in 0..60 {
        set_input(&mut room.host, 1, 0);
        for i in 0..5 {
            let n = i as i8 + 1;
            set_input(room.client(i), n, -n);
        }
        room.step();
        if tick > 10 {
            // After the first packets have arrived, each slot carries exactly
            // its owner's input.
            let inputs = room
                .host
                .world()
                .resource::<PlayerInputs<TestInput>>()
                .clone();
            assert_eq!(inputs.get(PlayerSlot::HOST).map(|i| i.x), Some(1));
            for i in 0..5 {
                let slot = local_slot(room.client(i));
                let n = i as i8 + 1;
                let got = inputs.get(slot).map(|input| (input.x, input.y));
                assert_eq!(got, Some((n, -n)), "client {i} in slot {slot:?}");
            }
        }
    }
    for _ in 0..30 {
        set_input(&mut room.host, 0, 0);
        for i in 0..5 {
            set_input(room.client(i), 0, 0);
        }
        room.step();
    }
    let truth = positions(&mut room.host);
    assert_eq!(truth.len(), 6);
    assert!(
        truth.iter().all(|(_, pos)| pos[0] != 0.0),
        "every player moved: {truth:?}"
    );
    for i in 0..5 {
        assert_eq!(positions(room.client(i)), truth, "client {i}");
    }
}

#[test]
fn lossy_jittery_links_still_deliver_inputs_and_converge() {
    let mut room = MemoryRoom::new(5, 3, game);
    room.start_game();
    // 20 % loss, 100 ± 50 ms one way, some duplicates, on every link, for
    // a minute of play: no link is taken for silent, no player drops.
    room.network.set_all_conditions(LinkConditions {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(100),
        loss: 0.2,
        duplicate: 0.05,
    });
    let ticks = 3600u16;
    for _ in 0..ticks {
        for i in 0..5 {
            set_input(room.client(i), 1, 1);
        }
        room.step();
    }
    assert!(
        room.clients().chain([&room.host]).all(|app| app
            .world()
            .resource::<Roster>()
            .players
            .len()
            == 6
            && app.world().resource::<Session>().status == SessionStatus::Playing),
        "everyone stayed in the game"
    );
    let applied = room.host.world().resource::<Applied>().0.clone();
    for i in 0..5 {
        let slot = local_slot(room.client(i)).0;
        let seen = applied.get(&slot).map_or(0, BTreeSet::len);
        let share = seen as f64 / f64::from(ticks);
        println!("client {i} (slot {slot}): {seen} of {ticks} inputs applied ({share:.3})");
        assert!(
            share > 0.9,
            "client {i}: only {seen} of {ticks} inputs applied"
        );
    }
    room.network.set_all_conditions(LinkConditions::PERFECT);
    for _ in 0..120 {
        for i in 0..5 {
            set_input(room.client(i), 0, 0);
        }
        room.step();
    }
    let truth = positions(&mut room.host);
    assert!(
        truth
            .iter()
            .filter(|(slot, _)| *slot != 0)
            .all(|(_, pos)| pos[0] > 100.0)
    );
    for i in 0..5 {
        assert_eq!(positions(room.client(i)), truth, "client {i}");
    }
}

#[test]
fn after_a_stall_a_clients_input_delay_returns_to_the_clean_link_depth() {
    let mut room = MemoryRoom::new(2, 11, game);
    room.start_game();
    let slot = local_slot(room.client(0));
    let host_delay = |room: &MemoryRoom| {
        room.host
            .world()
            .resource::<PlayerInputs<TestInput>>()
            .delay_ticks(slot)
            .expect("a slot")
    };
    // A clean link: the depth it settles at.
    let mut clean = 0;
    for step in 0..240 {
        for i in 0..2 {
            set_input(room.client(i), 1, 0);
        }
        room.step();
        if step >= 120 {
            clean = clean.max(host_delay(&room));
        }
    }
    assert!(
        clean <= 1,
        "a clean link needs at most one queued input, had {clean}"
    );
    // Half a second in which nothing of client 0 reaches the host; then its
    // packets flow again and bring the inputs it owes at once.
    let (client, host) = (room.client_id(0), room.host_id());
    room.network.set_conditions(
        client,
        host,
        LinkConditions {
            latency: Duration::from_millis(500),
            ..LinkConditions::PERFECT
        },
    );
    for _ in 0..30 {
        for i in 0..2 {
            set_input(room.client(i), 1, 0);
        }
        room.step();
    }
    room.network
        .set_conditions(client, host, LinkConditions::PERFECT);
    let mut delays = Vec::new();
    for _ in 0..180 {
        for i in 0..2 {
            set_input(room.client(i), 1, 0);
        }
        room.step();
        delays.push(host_delay(&room));
    }
    let burst = delays.iter().copied().max().unwrap_or_default();
    assert!(burst >= 4, "the stall left a burst of inputs: {delays:?}");
    let back = delays
        .iter()
        .rposition(|&delay| delay > clean)
        .map_or(0, |last| last + 1);
    println!(
        "input delay after a 500 ms stall: burst of {burst} ticks, back to the clean depth ({clean}) \
         after {back} ticks ({:.2} s)",
        back as f64 / 60.0
    );
    assert!(
        back <= 120,
        "the delay stayed above the clean-link depth for {back} ticks: {delays:?}"
    );
}

#[test]
fn a_client_drives_only_its_own_slot_and_forged_packets_change_nothing() {
    let mut room = MemoryRoom::new(2, 4, game);
    room.start_game();
    let host_id = room.host_id();
    let before = positions(&mut room.host);
    let victim = local_slot(room.client(1));
    for _ in 0..30 {
        set_input(room.client(0), 5, 5);
        room.step();
    }
    // Garbage, an unknown channel, and a replication-shaped message from a
    // client: none of it is state the host accepts.
    {
        let mut transport = room.client(0).world_mut().resource_mut::<Transport>();
        for bytes in [
            &b""[..],
            &[0xff; 40],
            &[0, 200, 1, 2, 3],
            &[0, 0, 0xde, 0xad, 0xbe, 0xef],
        ] {
            transport
                .send(host_id, Delivery::Reliable, Bytes::copy_from_slice(bytes))
                .expect("the host link is up");
        }
    }
    for _ in 0..30 {
        room.step();
    }
    let after = positions(&mut room.host);
    let moved: Vec<u8> = after
        .iter()
        .zip(&before)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0)
        .collect();
    assert_eq!(
        moved,
        [local_slot(room.client(0)).0],
        "only the sender's player moved"
    );
    let victim_input = room
        .host
        .world()
        .resource::<PlayerInputs<TestInput>>()
        .get(victim)
        .cloned();
    assert_eq!(victim_input.map(|i| (i.x, i.y)), Some((0, 0)));
    let malformed = room.host.world().resource::<Seen>().malformed;
    assert!(
        malformed >= 2,
        "the host noticed the malformed packets: {malformed}"
    );
    assert!(room.host.world().resource::<Session>().status == SessionStatus::Playing);
    assert_eq!(room.client(1).world().resource::<Roster>().players.len(), 3);
}

/// Sends `packets` from client `index` to the host, all in one frame.
fn send_to_host(room: &mut MemoryRoom, index: usize, packets: impl IntoIterator<Item = Bytes>) {
    let host_id = room.host_id();
    let mut transport = room.client(index).world_mut().resource_mut::<Transport>();
    for packet in packets {
        transport
            .send(host_id, Delivery::Reliable, packet)
            .expect("the host link is up");
    }
}

/// After client 0 was cut off for `reason`: the host says so, client 0 lost
/// its host link, and client 1 plays on with the host and without client 0.
fn assert_cut_off_alone(room: &mut MemoryRoom, reason: fn(CutOffReason) -> bool) {
    let abuser_id = room.client_id(0);
    room.step_until(60, |room| {
        !room.host.world().resource::<Seen>().cut_offs.is_empty()
            && room.host.world().resource::<Roster>().players.len() == 2
    });
    let cut_offs = room.host.world().resource::<Seen>().cut_offs.clone();
    assert!(
        matches!(cut_offs.as_slice(), [cut] if cut.peer == abuser_id && reason(cut.reason)),
        "{cut_offs:?}"
    );
    assert_eq!(
        room.host.world().resource::<Session>().status,
        SessionStatus::Playing
    );
    assert_eq!(
        room.api().removed(),
        vec![abuser_id],
        "the host asked the server to free the abuser's seat"
    );
    assert_ne!(
        status(room.client(0)),
        SessionStatus::Playing,
        "the abuser lost the host"
    );
    let bystander = room.client(1).world().resource::<Seen>();
    assert_eq!(
        (bystander.host_lost, bystander.game_ended),
        (0, 0),
        "the other player never noticed anything but the abuser leaving"
    );
    room.step_until(60, |room| {
        room.clients()
            .nth(1)
            .is_some_and(|app| app.world().resource::<Roster>().players.len() == 2)
    });
    assert_eq!(status(room.client(1)), SessionStatus::Playing);
    // And its inputs still move its player.
    let slot = local_slot(room.client(1));
    let before = positions(&mut room.host);
    for _ in 0..20 {
        set_input(room.client(1), 5, 0);
        room.step();
    }
    let after = positions(&mut room.host);
    let moved = |list: &[(u8, [f32; 2])]| list.iter().find(|(s, _)| *s == slot.0).map(|p| p.1);
    assert_ne!(moved(&before), moved(&after));
}

#[test]
fn a_client_that_keeps_sending_garbage_is_cut_off_and_the_others_play_on() {
    let mut room = MemoryRoom::new(2, 11, game);
    room.start_game();
    let limit = P2pSettings::default().peer_limits.malformed_packets;
    send_to_host(
        &mut room,
        0,
        (0..limit).map(|n| Bytes::from(vec![0xee, n as u8])),
    );
    assert_cut_off_alone(&mut room, |reason| {
        reason == CutOffReason::MalformedPackets { count: 16 }
    });
}

#[test]
fn a_client_that_floods_the_host_is_cut_off_and_the_others_play_on() {
    let mut room = MemoryRoom::new(2, 12, game);
    room.start_game();
    let limits = P2pSettings::default().peer_limits;
    // Well-formed pings, more in one frame than one second's allowance.
    let flood = limits.packets_per_second as usize * 2;
    send_to_host(
        &mut room,
        0,
        (0..flood).map(|n| Bytes::from(vec![1, 0, 0, 0, n as u8])),
    );
    assert_cut_off_alone(&mut room, |reason| {
        reason
            == CutOffReason::Flooding {
                packets_per_second: 2_000,
            }
    });
}

#[test]
fn a_lost_host_pauses_clients_counts_down_and_resumes_with_state_intact() {
    let mut room = MemoryRoom::new(2, 5, game);
    room.start_game();
    for _ in 0..20 {
        set_input(room.client(0), 2, 0);
        set_input(room.client(1), 0, 3);
        room.step();
    }
    for _ in 0..10 {
        set_input(room.client(0), 0, 0);
        set_input(room.client(1), 0, 0);
        room.step();
    }
    let truth = positions(&mut room.host);
    let slots: Vec<PlayerSlot> = (0..2).map(|i| local_slot(room.client(i))).collect();
    let grace = room.settings().host_grace;

    room.network.sever(room.host_id());
    room.step();
    room.step();
    for i in 0..2 {
        assert!(
            matches!(status(room.client(i)), SessionStatus::HostAway { .. }),
            "client {i}"
        );
        assert_eq!(room.client(i).world().resource::<Seen>().host_lost, 1);
    }
    assert!(matches!(
        status(&room.host),
        SessionStatus::Reconnecting { .. }
    ));
    let paused_at: Vec<u64> = (0..2)
        .map(|i| room.client(i).world().resource::<GameTicks>().0)
        .collect();
    room.step();
    let SessionStatus::HostAway { remaining } = status(room.client(0)) else {
        panic!("still waiting for the host");
    };
    assert!(
        remaining < grace,
        "the countdown runs: {remaining:?} of {grace:?}"
    );

    // The host reopens the room after half a second; its clients relink.
    room.step_until(300, |room| {
        room.clients()
            .all(|app| app.world().resource::<Session>().status == SessionStatus::Playing)
    });
    for (i, paused_at) in paused_at.into_iter().enumerate() {
        let ticks = room.client(i).world().resource::<GameTicks>().0;
        assert_eq!(
            ticks, paused_at,
            "client {i} ran no gameplay while the host was away"
        );
        assert_eq!(room.client(i).world().resource::<Seen>().host_returned, 1);
    }
    room.step_until(60, |room| {
        room.clients()
            .all(|app| app.world().resource::<Roster>().players.len() == 3)
    });
    for (i, slot) in slots.into_iter().enumerate() {
        assert_eq!(local_slot(room.client(i)), slot, "client {i} kept its slot");
        assert_eq!(
            positions(room.client(i)),
            truth,
            "client {i} sees the state it left"
        );
    }
    assert_eq!(positions(&mut room.host), truth);
}

#[test]
fn a_host_that_never_returns_ends_the_game_on_every_client() {
    let mut room = MemoryRoom::new(2, 6, |app: &mut App| {
        game(app);
        app.world_mut().resource_mut::<P2pSettings>().host_grace = Duration::from_secs(2);
    });
    room.start_game();
    // The host's machine is gone: its reopened links reach nobody.
    let network = room.network.clone();
    room.host
        .world_mut()
        .insert_resource(bevy_p2p_multiplayer::transport::LinkFactory(Box::new(
            move |_, _| Transport::new(network.join(bevy_p2p_multiplayer::testing::peer_id(999))),
        )));
    room.network.sever(room.host_id());
    let steps = room.step_until(200, |room| {
        room.clients().all(|app| {
            app.world().resource::<Session>().status
                == SessionStatus::Ended(EndReason::HostDidNotReconnect)
        })
    });
    assert!(
        (115..=135).contains(&steps),
        "ended after {steps} ticks, about 2 s"
    );
    for i in 0..2 {
        let app = room.client(i);
        assert!(app.world().get_resource::<Role>().is_none());
        assert_eq!(app.world().resource::<Seen>().game_ended, 1);
        assert!(app.world().get_resource::<Transport>().is_none());
        let players = app.world_mut().query::<&Player>().iter(app.world()).count();
        assert_eq!(players, 0, "the ended game's world is cleared");
    }
}

#[test]
fn a_client_that_leaves_frees_its_slot_and_its_player_disappears() {
    let mut room = MemoryRoom::new(2, 7, game);
    room.start_game();
    let leaving_slot = local_slot(room.client(0));
    room.client(0)
        .world_mut()
        .write_message(LobbyRequest::Leave);
    room.step();
    assert_eq!(
        room.client(0).world().resource::<Session>().status,
        SessionStatus::Idle
    );
    // Its goodbye reaches the host while its links stay open a moment: the
    // host frees the slot at once, not after the client grace.
    room.step_until(20, |room| {
        room.clients()
            .skip(1)
            .chain([&room.host])
            .all(|app| app.world().resource::<Roster>().players.len() == 2)
    });
    drop(room.remove_client(0));
    let host_slots: Vec<u8> = positions(&mut room.host).iter().map(|(s, _)| *s).collect();
    assert!(
        !host_slots.contains(&leaving_slot.0),
        "slot {leaving_slot:?} is free: {host_slots:?}"
    );
}

#[test]
fn a_late_joiner_gets_the_full_state_then_changes() {
    let mut room = MemoryRoom::new(2, 8, game);
    room.start_game();
    for _ in 0..40 {
        set_input(room.client(0), 3, 1);
        set_input(&mut room.host, -2, 0);
        room.step();
    }
    let late = room.add_client();
    room.step_until(120, |room| {
        room.clients()
            .chain([&room.host])
            .all(|app| app.world().resource::<Roster>().players.len() == 4)
    });
    assert_eq!(
        status(room.client(late)),
        SessionStatus::Playing,
        "joins the running game"
    );
    for _ in 0..20 {
        set_input(room.client(late), 0, -4);
        room.step();
    }
    for _ in 0..30 {
        for i in 0..3 {
            set_input(room.client(i), 0, 0);
        }
        set_input(&mut room.host, 0, 0);
        room.step();
    }
    let truth = positions(&mut room.host);
    assert_eq!(
        positions(room.client(late)),
        truth,
        "the late joiner sees what the host has"
    );
    let slot = local_slot(room.client(late));
    let own = truth
        .iter()
        .find(|(s, _)| *s == slot.0)
        .expect("its player");
    assert_eq!(own.1[1], -80.0, "its own inputs moved it");
}

#[test]
fn joins_go_through_the_lobby_and_its_refusals() {
    // Five clients fill the six-player room, each by its code.
    let mut room = MemoryRoom::new(5, 9, game);
    let full = room.add_client();
    let wrong = room.add_client_joining("ZZZ222");
    let typo = room.add_client_joining("ZZZ20O");
    room.step_until(30, |room| {
        [full, wrong, typo].iter().all(|&i| {
            let session = room
                .clients()
                .nth(i)
                .expect("the client")
                .world()
                .resource::<Session>();
            session.status == SessionStatus::Idle && session.last_failure.is_some()
        })
    });
    for (i, failure) in [
        (full, JoinFailure::RoomFull),
        (wrong, JoinFailure::RoomNotFound),
        (typo, JoinFailure::InvalidCode),
    ] {
        let app = room.client(i);
        assert_eq!(
            app.world().resource::<Session>().last_failure,
            Some(failure)
        );
        assert!(app.world().get_resource::<Transport>().is_none());
        assert!(app.world().get_resource::<Role>().is_none());
    }
    // The room is as it was.
    assert_eq!(room.host.world().resource::<Roster>().players.len(), 6);
}

#[test]
fn the_host_knows_which_client_tick_each_input_was_written_on() {
    let mut room = MemoryRoom::new(2, 12, game);
    room.start_game();
    let slot = local_slot(room.client(0));
    // On the client: the input (by its sequence number) shipped on each tick.
    let mut shipped: HashMap<u32, u16> = HashMap::new();
    let mut last_tick = room.client(0).world().resource::<ShippedInputTick>().0;
    let mut applied: Vec<(u32, u16)> = Vec::new();
    for _ in 0..120 {
        for i in 0..2 {
            set_input(room.client(i), 1, 0);
        }
        room.step();
        let client = room.client(0).world();
        let tick = client.resource::<ShippedInputTick>().0;
        let seq = client.resource::<LocalInput<TestInput>>().seq;
        // Every tick since the last step shipped this step's input.
        for shipped_on in last_tick + 1..=tick {
            shipped.insert(shipped_on, seq);
        }
        last_tick = tick;
        let inputs = room.host.world().resource::<PlayerInputs<TestInput>>();
        if let (Some(tick), Some(input)) = (inputs.input_tick(slot), inputs.get(slot)) {
            applied.push((tick, input.seq));
        }
    }
    let distinct: BTreeSet<u32> = applied.iter().map(|(tick, _)| *tick).collect();
    assert!(
        distinct.len() >= 100,
        "the host applied inputs of only {} client ticks",
        distinct.len()
    );
    for (tick, seq) in applied {
        assert_eq!(
            shipped.get(&tick),
            Some(&seq),
            "the host says the input it applied (seq {seq}) was written on client tick {tick}"
        );
    }
    assert_eq!(
        room.host
            .world()
            .resource::<PlayerInputs<TestInput>>()
            .input_tick(PlayerSlot::HOST),
        None,
        "the host's own input has no client tick"
    );
}

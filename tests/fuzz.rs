//! Fuzzing every decoder a peer can reach in a player's app, on stable Rust
//! with the seeded mutator of `bevy_p2p_protocol::fuzz`: our packet framing,
//! the packet gate, and a whole host app (`bevy_replicon`'s message decoding
//! and the input batches) fed mutated packets by a hostile client.
//!
//! Each test runs its own default number of cases; `P2P_FUZZ_CASES=N` runs
//! N each. Every run is the same run: the mutator is seeded.

use core::time::Duration;

use bevy::prelude::*;
use bevy_p2p_multiplayer::{
    prelude::*,
    testing::{MemoryRoom, peer_id},
    transport::{
        Delivery, LinkEvent, Transport,
        bridge::gate::PeerGate,
        packet::{MalformedPacket, Packet},
    },
};
use bevy_p2p_protocol::fuzz::{self, Mutator};
use bevy_replicon::prelude::*;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

#[test]
fn packet_framing_decodes_anything_and_re_encodes_what_it_accepts() {
    let seeds: Vec<Bytes> = [
        Packet::Replicon {
            channel: 2,
            message: Bytes::from_static(b"\x05\x01\x02\x03"),
        },
        Packet::Replicon {
            channel: 0,
            message: Bytes::new(),
        },
        Packet::Ping(7),
        Packet::Pong(u32::MAX),
    ]
    .iter()
    .map(Packet::encode)
    .collect();
    let seeds: Vec<&[u8]> = seeds.iter().map(|s| &s[..]).collect();
    let (mut ok, mut bad) = (0, 0);
    fuzz::run(
        "packet_framing",
        200_000,
        &seeds,
        |bytes| match Packet::decode(Bytes::copy_from_slice(bytes)) {
            Ok(packet) => {
                assert_eq!(&packet.encode()[..], bytes, "{packet:?}");
                ok += 1;
            }
            Err(MalformedPacket) => bad += 1,
        },
    );
    println!("packet_framing: decoded={ok} malformed={bad}");
    assert!(
        ok > 0 && bad > 0,
        "both outcomes are explored: {ok} / {bad}"
    );
}

/// The gate's promises, on random frames of three peers' events: per frame
/// no peer gets more than its budget; each peer's packets come out in the
/// order they went in, none twice; a cut-off peer gets nothing more through
/// until it links again; nothing waits past the backlog bound.
#[test]
fn the_gate_keeps_order_budget_and_cut_offs_on_any_event_sequence() {
    let limits = PeerLimits {
        packets_per_second: 40,
        packets_per_frame: 3,
        backlog: 12,
        backlog_bytes: 40,
        malformed_packets: 3,
    };
    let peers = [peer_id(1), peer_id(2), peer_id(3)];
    let cases = fuzz::cases(20_000);
    let mut rng = Mutator::new(0x6a7e);
    let mut cut_total = 0;
    for case in 0..cases {
        let mut gate = PeerGate::new(limits);
        let mut next_seq = [0u32; 3];
        let mut last_out: [Option<u32>; 3] = [None; 3];
        let mut cut = [false; 3];
        let mut now = Duration::ZERO;
        for _frame in 0..1 + rng.below(12) {
            now += Duration::from_millis(rng.below(300) as u64);
            let mut events = Vec::new();
            for _ in 0..rng.below(20) {
                let p = rng.below(3);
                events.push(match rng.below(20) {
                    0 => LinkEvent::Connected(peers[p]),
                    1 => LinkEvent::Disconnected(peers[p]),
                    _ => {
                        next_seq[p] += 1;
                        LinkEvent::Received {
                            from: peers[p],
                            delivery: Delivery::Reliable,
                            packet: Bytes::copy_from_slice(&next_seq[p].to_le_bytes()),
                        }
                    }
                });
            }
            let connected: Vec<usize> = events
                .iter()
                .filter_map(|e| match e {
                    LinkEvent::Connected(peer) => peers.iter().position(|p| p == peer),
                    _ => None,
                })
                .collect();
            let (admitted, cut_offs) = gate.admit(now, events);
            let mut per_peer = [0usize; 3];
            for event in &admitted {
                match event {
                    LinkEvent::Received { from, packet, .. } => {
                        let p = peers.iter().position(|q| q == from).expect("our peer");
                        assert!(
                            !cut[p] || connected.contains(&p),
                            "case {case}: a cut-off peer got through"
                        );
                        per_peer[p] += 1;
                        let seq = u32::from_le_bytes(packet[..].try_into().expect("4 bytes"));
                        assert!(
                            last_out[p].is_none_or(|last| seq > last),
                            "case {case}: out of order or twice: {seq} after {:?}",
                            last_out[p]
                        );
                        last_out[p] = Some(seq);
                    }
                    LinkEvent::Connected(peer) => {
                        let p = peers.iter().position(|q| q == peer).expect("our peer");
                        cut[p] = false;
                    }
                    _ => {}
                }
            }
            for (p, count) in per_peer.iter().enumerate() {
                assert!(
                    *count <= limits.packets_per_frame,
                    "case {case}: peer {p} got {count}"
                );
            }
            for cut_off in cut_offs {
                cut_total += 1;
                let p = peers
                    .iter()
                    .position(|q| *q == cut_off.peer)
                    .expect("our peer");
                cut[p] = true;
            }
        }
    }
    println!("fuzz gate: cases={cases} cut_offs={cut_total}");
    assert!(cut_total > 0, "the sequences reach cut-offs");
}

#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
struct Steer {
    x: i8,
    y: i8,
    fire: bool,
}

/// The input batch's wire shape (the plugin's own type is private).
#[derive(Serialize)]
struct BatchShape {
    tick: u32,
    inputs: Vec<Steer>,
}

fn game(app: &mut App) {
    app.add_player_input::<Steer>()
        .insert_resource(P2pSettings {
            // The fuzzing peer sends far more than a player would: these tests
            // are about decoding, not about the limits.
            peer_limits: PeerLimits {
                packets_per_second: u32::MAX,
                packets_per_frame: usize::MAX,
                backlog: usize::MAX,
                backlog_bytes: usize::MAX,
                malformed_packets: u32::MAX,
            },
            ..Default::default()
        });
}

/// Sends fuzz cases from a client to the host as replicon messages on the
/// host's `channels`, 500 a step. The host may disconnect a client that
/// sends nonsense (replicon does, for a protocol hash that does not match):
/// then it leaves, a new client joins and the fuzzing goes on from it. The
/// fuzzing client is the room's last; client 0 is a real player. Returns how
/// many clients the host disconnected.
fn feed_host(
    room: &mut MemoryRoom,
    name: &str,
    channels: usize,
    seeds: &[&[u8]],
    default_cases: usize,
) -> usize {
    let cases = fuzz::cases(default_cases);
    let mut rng = Mutator::new(0xf00d ^ name.len() as u64);
    let start = std::time::Instant::now();
    let (mut sent, mut disconnected) = (0, 0);
    while sent < cases {
        let host = room.host_id();
        let mut link_down = false;
        {
            let fuzzer = room.clients().count() - 1;
            let mut transport = room.client(fuzzer).world_mut().resource_mut::<Transport>();
            for _ in 0..500.min(cases - sent) {
                let channel = rng.below(channels) as u8;
                let message = Bytes::from(rng.input(seeds, 96));
                let packet = Packet::Replicon { channel, message }.encode();
                let delivery = if rng.below(2) == 0 {
                    Delivery::Reliable
                } else {
                    Delivery::Unreliable
                };
                if transport.send(host, delivery, packet).is_err() {
                    link_down = true;
                    break;
                }
                sent += 1;
            }
        }
        if link_down {
            disconnected += 1;
            // Dropped: its app goes, and with it its links.
            drop(room.remove_client(room.clients().count() - 1));
            room.add_client();
            room.step_until(600, |room| {
                room.clients().last().is_some_and(|app| {
                    app.world().resource::<Session>().status == SessionStatus::Playing
                })
            });
        }
        room.step();
    }
    println!(
        "fuzz {name}: cases={sent} secs={:.1} clients_disconnected_by_the_host={disconnected}",
        start.elapsed().as_secs_f64()
    );
    disconnected
}

#[test]
fn a_host_survives_any_replicon_message_from_a_client() {
    let mut room = MemoryRoom::new(2, 21, game);
    room.start_game();
    let channels = room
        .host
        .world()
        .resource::<RepliconChannels>()
        .client_channels()
        .len();
    let mut batch = Vec::new();
    bevy_replicon::postcard_utils::to_extend_mut(
        &BatchShape {
            tick: 9,
            inputs: vec![
                Steer {
                    x: 1,
                    y: -1,
                    fire: true
                };
                3
            ],
        },
        &mut batch,
    )
    .expect("serializes");
    let seeds: [&[u8]; 3] = [&batch, &[0, 1, 2, 3], &[0xff, 0xff, 0xff, 0xff, 0x0f]];
    feed_host(
        &mut room,
        "host_replicon_messages",
        channels,
        &seeds,
        20_000,
    );
    assert_host_plays_on(&mut room);
}

/// The host is still playing and a real client's input still moves through.
fn assert_host_plays_on(room: &mut MemoryRoom) {
    assert_eq!(
        room.host.world().resource::<Session>().status,
        SessionStatus::Playing
    );
    let slot = room
        .client(0)
        .world()
        .resource::<Session>()
        .local_slot
        .expect("a slot");
    room.client(0)
        .world_mut()
        .resource_mut::<LocalInput<Steer>>()
        .0 = Steer {
        x: 3,
        y: 4,
        fire: false,
    };
    room.step_until(120, |room| {
        room.host
            .world()
            .resource::<PlayerInputs<Steer>>()
            .get(slot)
            == Some(&Steer {
                x: 3,
                y: 4,
                fire: false,
            })
    });
}

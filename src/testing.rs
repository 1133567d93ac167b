//! Deterministic multi-app tests over in-memory links.
//!
//! [`MemoryRoom`] builds a host and its clients as separate Bevy apps in one
//! process, joined by a [`MemoryNetwork`], with time advanced by hand (one
//! 60 Hz tick per [`MemoryRoom::step`]). The same helpers serve this crate's
//! tests, its benchmark, and a game's own tests.
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_p2p_multiplayer::{prelude::*, testing::MemoryRoom};
//!
//! let mut room = MemoryRoom::new(2, 7, |_app: &mut App| {});
//! room.start_game();
//! room.step_until(120, |room| room.clients().all(|c| c.world().resource::<Roster>().players.len() == 3));
//! ```

use core::time::Duration;

use bevy::{prelude::*, time::TimeUpdateStrategy};
use uuid::Uuid;

use crate::{
    P2pMultiplayerPlugin,
    lobby::{LobbyRequest, enter_room_with},
    role::Role,
    session::{Session, SessionStatus},
    settings::P2pSettings,
    share_code::ShareCode,
    transport::{LinkFactory, MemoryNetwork, PeerId, Transport},
};

/// The share code every [`MemoryRoom`] uses.
pub const TEST_CODE: &str = "TEST23";

/// The tick every app advances per [`MemoryRoom::step`].
pub const TICK: Duration = Duration::from_nanos(16_666_667);

/// A host and its clients in one process, over a [`MemoryNetwork`].
pub struct MemoryRoom {
    /// The switchboard: set link conditions or sever links through it.
    pub network: MemoryNetwork,
    /// The host's app.
    pub host: App,
    /// The host's current peer id (a new one after each reconnect).
    host_id: std::sync::Arc<std::sync::Mutex<PeerId>>,
    clients: Vec<(PeerId, App)>,
    configure: Box<dyn Fn(&mut App)>,
    /// Shared with the host's link factory: every client ever joined, so a
    /// reconnecting host links to late joiners too.
    client_ids: std::sync::Arc<std::sync::Mutex<Vec<PeerId>>>,
}

/// A fresh peer id drawn from a counter, so runs repeat.
pub fn peer_id(n: u128) -> PeerId {
    PeerId(Uuid::from_u128(n))
}

/// A headless app with the plugin, time stepped by hand at [`TICK`].
pub fn test_app(configure: &impl Fn(&mut App)) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, P2pMultiplayerPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(TICK));
    configure(&mut app);
    // `App::run` would do this; tests drive `update` themselves. Replicon
    // creates its channels in `finish`.
    app.finish();
    app.cleanup();
    app
}

impl MemoryRoom {
    /// A host and `clients` clients, every link up and every app updated
    /// until all clients see the host. `seed` drives the link conditioner;
    /// `configure` sets up each app (register inputs, replication, systems).
    pub fn new(clients: usize, seed: u64, configure: impl Fn(&mut App) + 'static) -> Self {
        let network = MemoryNetwork::new(seed);
        let code: ShareCode = TEST_CODE.parse().expect("a valid code");
        let host_id = std::sync::Arc::new(std::sync::Mutex::new(peer_id(1)));
        let client_ids: Vec<PeerId> = (0..clients).map(|n| peer_id(100 + n as u128)).collect();

        let mut host = test_app(&configure);
        // A host that loses its links comes back with a new id, linked to
        // every client still in the room, as the signaling server would do.
        let next_id = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(2));
        let shared_ids = std::sync::Arc::new(std::sync::Mutex::new(client_ids.clone()));
        let (factory_net, factory_host, factory_clients) =
            (network.clone(), host_id.clone(), shared_ids.clone());
        host.insert_resource(LinkFactory(Box::new(move |_url, _settings| {
            let n = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = peer_id(u128::from(n));
            *factory_host.lock().unwrap_or_else(|e| e.into_inner()) = id;
            let links = factory_net.join(id);
            let clients = factory_clients
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for client in clients {
                factory_net.connect(id, client);
            }
            Transport::new(links)
        })));
        let host_links = network.join(peer_id(1));
        enter_room_with(
            host.world_mut(),
            Role::Host,
            code.clone(),
            Some("test-token".into()),
            Transport::new(host_links),
        );

        let mut apps = Vec::new();
        for &id in &client_ids {
            let mut app = test_app(&configure);
            let links = network.join(id);
            enter_room_with(
                app.world_mut(),
                Role::Client,
                code.clone(),
                None,
                Transport::new(links),
            );
            network.connect(peer_id(1), id);
            apps.push((id, app));
        }
        let mut room = Self {
            network,
            host,
            host_id,
            clients: apps,
            configure: Box::new(configure),
            client_ids: shared_ids,
        };
        room.step_until(600, |room| {
            room.clients()
                .all(|app| app.world().resource::<Session>().status == SessionStatus::InLobby)
        });
        room
    }

    /// A client that joins now, into a game that may be running: it gets the
    /// full state, then changes. Returns its index.
    pub fn add_client(&mut self) -> usize {
        let id = peer_id(
            100 + self
                .client_ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len() as u128,
        );
        self.client_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
        let mut app = test_app(&self.configure);
        let code: ShareCode = TEST_CODE.parse().expect("a valid code");
        enter_room_with(
            app.world_mut(),
            Role::Client,
            code,
            None,
            Transport::new(self.network.join(id)),
        );
        self.network.connect(self.host_id(), id);
        self.clients.push((id, app));
        self.clients.len() - 1
    }

    /// The host's current peer id.
    pub fn host_id(&self) -> PeerId {
        *self.host_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clients' apps.
    pub fn clients(&self) -> impl Iterator<Item = &App> {
        self.clients.iter().map(|(_, app)| app)
    }

    /// One client's app.
    pub fn client(&mut self, index: usize) -> &mut App {
        &mut self.clients[index].1
    }

    /// One client's peer id.
    pub fn client_id(&self, index: usize) -> PeerId {
        self.clients[index].0
    }

    /// Removes a client from the room (its app is dropped, so its links close).
    pub fn remove_client(&mut self, index: usize) -> App {
        self.clients.remove(index).1
    }

    /// Advances every app by one tick, host first.
    pub fn step(&mut self) {
        self.host.update();
        for (_, app) in &mut self.clients {
            app.update();
        }
    }

    /// Steps until `done` holds; panics after `max_steps` ticks, so that no
    /// test waits forever.
    pub fn step_until(&mut self, max_steps: usize, done: impl Fn(&Self) -> bool) -> usize {
        for steps in 0..max_steps {
            if done(self) {
                return steps;
            }
            self.step();
        }
        assert!(done(self), "condition not met within {max_steps} ticks");
        max_steps
    }

    /// The host presses Start and every app steps until all play.
    pub fn start_game(&mut self) {
        self.host.world_mut().write_message(LobbyRequest::Start);
        self.step_until(600, |room| {
            core::iter::once(&room.host)
                .chain(room.clients())
                .all(|app| app.world().resource::<Session>().status == SessionStatus::Playing)
        });
    }

    /// Every app's settings, for reading the grace period in tests.
    pub fn settings(&self) -> P2pSettings {
        self.host.world().resource::<P2pSettings>().clone()
    }
}

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
use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use bevy::{prelude::*, time::TimeUpdateStrategy};
use bevy_p2p_protocol::{
    CreatedRoom, RoomInfo, RoomState,
    api::{JoinOutcome, SessionReport},
};
use uuid::Uuid;

use crate::{
    P2pMultiplayerPlugin,
    lobby::{LobbyRequest, Reply, RoomApi, RoomCalls},
    session::{JoinFailure, Session, SessionStatus},
    settings::P2pSettings,
    share_code::ShareCode,
    transport::{LinkFactory, MemoryNetwork, PeerId, Transport},
};

/// The share code every [`MemoryRoom`] uses.
pub const TEST_CODE: &str = "TEST23";

/// The tick every app advances per [`MemoryRoom::step`].
pub const TICK: Duration = Duration::from_nanos(16_666_667);

/// A host and its clients in one process, over a [`MemoryNetwork`].
///
/// Everyone goes through the real lobby: the host asks for a room and each
/// client joins it by code, against an in-process room API
/// ([`MemoryRoomApi`]) instead of the signaling server's HTTP one.
pub struct MemoryRoom {
    /// The switchboard: set link conditions or sever links through it.
    pub network: MemoryNetwork,
    /// The host's app.
    pub host: App,
    /// The host's current peer id (a new one after each reconnect).
    host_id: Arc<Mutex<PeerId>>,
    clients: Vec<(PeerId, App)>,
    configure: Box<dyn Fn(&mut App)>,
    /// Shared with the host's link factory: every client ever linked, so a
    /// reconnecting host links to late joiners too.
    client_ids: Arc<Mutex<Vec<PeerId>>>,
    api: MemoryRoomApi,
    joined: u128,
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

fn lock<T>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The room API of a [`MemoryRoom`]: one room, [`TEST_CODE`], whose seats
/// are the clients linked so far.
#[derive(Clone, Default)]
pub struct MemoryRoomApi {
    state: Arc<Mutex<ApiState>>,
}

#[derive(Default)]
struct ApiState {
    /// The room's size once the host created it.
    capacity: Option<usize>,
    /// Clients linked to the room now.
    clients: usize,
    /// Clients the host asked the server to remove, in order.
    removed: Vec<PeerId>,
    /// Join reports, in order.
    join_reports: Vec<JoinOutcome>,
    /// Session reports, in order.
    session_reports: Vec<SessionReport>,
}

impl RoomCalls for MemoryRoomApi {
    fn create_room(&self, _settings: &P2pSettings, capacity: usize) -> Reply<CreatedRoom> {
        lock(&self.state).capacity = Some(capacity);
        Reply::ready(Ok(CreatedRoom {
            code: TEST_CODE.into(),
            host_token: "test-token".into(),
            capacity,
            share_url: None,
        }))
    }

    fn get_room(
        &self,
        _settings: &P2pSettings,
        code: &ShareCode,
        _to_join: bool,
    ) -> Reply<RoomInfo> {
        let state = lock(&self.state);
        let capacity = match state.capacity {
            Some(capacity) if code.as_str() == TEST_CODE => capacity,
            _ => return Reply::ready(Err(JoinFailure::RoomNotFound)),
        };
        Reply::ready(Ok(RoomInfo {
            code: TEST_CODE.into(),
            players: state.clients + 1,
            capacity,
            host_connected: true,
            state: RoomState::Waiting,
            share_url: None,
            closes_in_secs: None,
        }))
    }

    fn start_room(&self, _settings: &P2pSettings, _code: &ShareCode, _host_token: &str) {}

    fn end_room(&self, _settings: &P2pSettings, _code: &ShareCode, _host_token: &str) -> Reply<()> {
        Reply::ready(Ok(()))
    }

    fn remove_client(
        &self,
        _settings: &P2pSettings,
        _code: &ShareCode,
        _host_token: &str,
        peer: PeerId,
    ) {
        lock(&self.state).removed.push(peer);
    }

    fn report_join(
        &self,
        _settings: &P2pSettings,
        _code: &ShareCode,
        _seat: &str,
        outcome: JoinOutcome,
    ) {
        lock(&self.state).join_reports.push(outcome);
    }

    fn report_session(
        &self,
        _settings: &P2pSettings,
        _code: &ShareCode,
        _host_token: &str,
        report: SessionReport,
    ) {
        lock(&self.state).session_reports.push(report);
    }
}

impl MemoryRoomApi {
    /// The clients the host asked the server to remove, in order.
    pub fn removed(&self) -> Vec<PeerId> {
        lock(&self.state).removed.clone()
    }

    /// The join reports clients sent, in order.
    pub fn join_reports(&self) -> Vec<JoinOutcome> {
        lock(&self.state).join_reports.clone()
    }

    /// The session reports hosts sent, in order.
    pub fn session_reports(&self) -> Vec<SessionReport> {
        lock(&self.state).session_reports.clone()
    }
}

impl MemoryRoom {
    /// A host and `clients` clients, every link up and every app updated
    /// until all clients see the host. `seed` drives the link conditioner;
    /// `configure` sets up each app (register inputs, replication, systems).
    pub fn new(clients: usize, seed: u64, configure: impl Fn(&mut App) + 'static) -> Self {
        let network = MemoryNetwork::new(seed);
        let host_id = Arc::new(Mutex::new(peer_id(1)));
        let client_ids = Arc::new(Mutex::new(Vec::new()));
        let api = MemoryRoomApi::default();

        let mut host = test_app(&configure);
        // Each time the host opens the room it gets a new id, linked to every
        // client still in the room, as the signaling server would do.
        let next_id = Arc::new(AtomicU64::new(1));
        let (factory_net, factory_host, factory_clients) =
            (network.clone(), host_id.clone(), client_ids.clone());
        host.insert_resource(RoomApi(Box::new(api.clone())))
            .insert_resource(LinkFactory(Box::new(move |_room, _settings| {
                let id = peer_id(u128::from(next_id.fetch_add(1, Ordering::Relaxed)));
                *lock(&factory_host) = id;
                let links = factory_net.join(id);
                for &client in lock(&factory_clients).iter() {
                    factory_net.connect(id, client);
                }
                Transport::new(links)
            })));
        host.world_mut().write_message(LobbyRequest::Host);
        let mut room = Self {
            network,
            host,
            host_id,
            clients: Vec::new(),
            configure: Box::new(configure),
            client_ids,
            api,
            joined: 0,
        };
        room.step_until(60, |room| {
            room.host.world().resource::<Session>().status == SessionStatus::InLobby
        });
        for _ in 0..clients {
            room.add_client();
        }
        room.step_until(600, |room| {
            room.clients()
                .all(|app| app.world().resource::<Session>().status == SessionStatus::InLobby)
        });
        room
    }

    /// A client that joins now, into a game that may be running: it gets the
    /// full state, then changes. Returns its index.
    pub fn add_client(&mut self) -> usize {
        self.add_client_joining(TEST_CODE)
    }

    /// A client that asks to join `code` (typed as a player would): the
    /// room's own code joins, anything else meets the lobby's refusals.
    /// Returns its index.
    pub fn add_client_joining(&mut self, code: &str) -> usize {
        self.joined += 1;
        let id = peer_id(100 + self.joined);
        let mut app = test_app(&self.configure);
        let (network, host_id, client_ids, api) = (
            self.network.clone(),
            self.host_id.clone(),
            self.client_ids.clone(),
            self.api.clone(),
        );
        app.insert_resource(RoomApi(Box::new(self.api.clone())))
            .insert_resource(LinkFactory(Box::new(move |_room, _settings| {
                let links = network.join(id);
                network.connect(*lock(&host_id), id);
                lock(&client_ids).push(id);
                lock(&api.state).clients += 1;
                Transport::new(links)
            })));
        app.world_mut()
            .write_message(LobbyRequest::Join(code.to_owned()));
        self.clients.push((id, app));
        self.clients.len() - 1
    }

    /// The room API the apps share: what the host asked of the server.
    pub fn api(&self) -> &MemoryRoomApi {
        &self.api
    }

    /// The host's current peer id.
    pub fn host_id(&self) -> PeerId {
        *lock(&self.host_id)
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
        let (id, app) = self.clients.remove(index);
        let mut ids = lock(&self.client_ids);
        if let Some(at) = ids.iter().position(|c| *c == id) {
            ids.remove(at);
            let mut state = lock(&self.api.state);
            state.clients = state.clients.saturating_sub(1);
        }
        app
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

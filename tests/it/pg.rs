//! PostgreSQL for tests: each test works in a fresh schema of the test database
//! (`FRONTDESK_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`),
//! dropped when the test ends (also when it fails). Pools stay small: many tests run at
//! once against a server with ~100 connections.

use std::str::FromStr;
use std::sync::Arc;

use frontdesk::store::postgres::{PgOptions, PgStore};
use frontdesk::store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database's URL.
pub fn test_url() -> String {
    std::env::var("FRONTDESK_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Pool size of one test store.
const TEST_POOL: u32 = 4;

/// A fresh schema, dropped on drop.
pub struct PgSchema {
    name: String,
}

impl Default for PgSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl PgSchema {
    pub fn new() -> PgSchema {
        PgSchema {
            name: format!("fdtest_{}_{:016x}", std::process::id(), fastrand::u64(..)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL with this schema as `search_path` (for the `frontdesk` binary).
    pub fn url(&self) -> String {
        let base = test_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options[search_path]={}", self.name)
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&test_url())
            .expect("FRONTDESK_TEST_POSTGRES_URL is a PostgreSQL URL")
            .options([("search_path", self.name.as_str())])
    }

    /// A store on this schema (migrated; the schema is created by the first one).
    pub async fn open_pg(&self) -> PgStore {
        PgStore::open_options(
            self.connect_options(),
            PgOptions {
                max_connections: TEST_POOL,
                ..PgOptions::default()
            },
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL for tests at {} (FRONTDESK_TEST_POSTGRES_URL): {e}",
                test_url()
            )
        })
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.open_pg().await)
    }

    /// A plain connection to this schema, for what the store does not offer.
    pub async fn connect(&self) -> sqlx::PgConnection {
        self.connect_options().connect().await.unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let options = self.connect_options();
        let name = self.name.clone();
        // Async drop does not exist: a thread with its own small runtime does it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = options.connect().await.ok()?;
                let done = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
                done.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: test schema {} was not dropped", self.name);
        }
    }
}

/// A TCP proxy in front of the test PostgreSQL server that a test can take down (every
/// connection cut, new ones refused) and bring back, to show what frontdesk does when its
/// database goes away — without touching the real server.
pub struct PgProxy {
    port: u16,
    target: (String, u16),
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Default for PgProxy {
    fn default() -> Self {
        Self::new()
    }
}

impl PgProxy {
    /// A proxy on a free port, down (nothing listens there yet).
    pub fn new() -> PgProxy {
        let options = PgConnectOptions::from_str(&test_url()).expect("a PostgreSQL URL");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        PgProxy {
            port,
            target: (options.get_host().to_string(), options.get_port()),
            tasks: Default::default(),
        }
    }

    /// `schema`'s URL through the proxy.
    pub fn url(&self, schema: &PgSchema) -> String {
        let options = PgConnectOptions::from_str(&test_url()).expect("a PostgreSQL URL");
        format!(
            "postgres://{}@127.0.0.1:{}/{}?options[search_path]={}",
            options.get_username(),
            self.port,
            options.get_database().unwrap_or("test"),
            schema.name()
        )
    }

    /// Starts accepting and forwarding connections.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let target = self.target.clone();
        let accept = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Cuts every connection and stops listening (the JoinSet of connections goes with
    /// the accept task).
    pub fn down(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.down();
    }
}

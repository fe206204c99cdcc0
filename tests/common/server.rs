//! A real `redial serve` on loopback for integration tests: two tenants (HVAC, SaaS) with
//! webhook secrets, an admin token, and helpers to sign and send requests.

use redial_connectors::Simulator;
use redial_connectors::webhooks::sign_standard_webhook;
use redial_core::clock::{Clock, SystemClock};
use redial_core::connectors::{ConnectorError, Connectors, Delivery, Recipient};
use redial_core::engine::Engine;
use redial_core::records::{Effect, OutboxItem};
use redial_server::AppBuilder;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const TWILIO_TOKEN: &str = "twilio-token-123";
pub const VAPI_SECRET: &str = "vapi-secret-xyz";
pub const ADMIN: &str = "admin-token-for-tests";
pub const HVAC: &str = "lone-star-hvac";
pub const SAAS: &str = "northwind-software";

pub fn with_webhooks(policy: &str) -> String {
    format!(
        "{policy}\n[webhooks]\nsigning_secret = \"{SECRET}\"\ntwilio_auth_token = \"{TWILIO_TOKEN}\"\nvapi_secret = \"{VAPI_SECRET}\"\n"
    )
}

/// `policy` with webhook secrets named as the tenant's own secrets (`secret:NAME`), as a
/// policy PUT through the API must; [`Client::set_webhook_secrets`] sets them.
pub fn with_secret_refs(policy: &str) -> String {
    format!(
        "{policy}\n[webhooks]\nsigning_secret = \"secret:signing\"\ntwilio_auth_token = \"secret:twilio\"\nvapi_secret = \"secret:vapi\"\n"
    )
}

/// Sends requests to a Redial server at `base` (in-process or a child process).
pub struct Client {
    pub base: String,
    pub agent: ureq::Agent,
}

pub struct Server {
    pub client: Client,
    pub engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub _dir: tempfile::TempDir,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            base: base.to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let (status, _, text) = self.exchange(method, path, headers, body);
        (status, text)
    }

    /// [`Client::send`], with the answer's headers.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, ureq::http::HeaderMap, String) {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            (m, body) => {
                let mut r = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(body.unwrap_or_default())
            }
        };
        match resp {
            Ok(mut resp) => (
                resp.status().as_u16(),
                resp.headers().clone(),
                resp.body_mut().read_to_string().unwrap_or_default(),
            ),
            // The server may answer (413) and close before a huge body is fully sent.
            Err(e) => (0, Default::default(), e.to_string()),
        }
    }

    /// Sets the secrets [`with_secret_refs`] names, to the values the test server's policy
    /// files hold, as `token`.
    pub fn set_webhook_secrets(&self, tenant: &str, token: &str) {
        for (name, value) in [
            ("signing", SECRET),
            ("twilio", TWILIO_TOKEN),
            ("vapi", VAPI_SECRET),
        ] {
            self.set_secret(tenant, token, name, value);
        }
    }

    /// PUTs one secret as `token`; returns the status.
    pub fn set_secret(&self, tenant: &str, token: &str, name: &str, value: &str) -> u16 {
        let auth = format!("Bearer {token}");
        let body = serde_json::to_vec(&json!({ "value": value })).unwrap();
        let (status, text) = self.send(
            "PUT",
            &format!("/v1/tenants/{tenant}/secrets/{name}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(&body),
        );
        assert!(status < 500, "{text}");
        status
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let (status, body) = self.send("GET", path, &[("authorization", &auth)], None);
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    pub fn signal(&self, tenant: &str, id: &str, body: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(body).unwrap();
        self.signal_raw(tenant, id, &body, &body, "application/json")
    }

    /// Posts `sent`, signed as if the body were `signed`.
    pub fn signal_raw(
        &self,
        tenant: &str,
        id: &str,
        signed: &[u8],
        sent: &[u8],
        content_type: &str,
    ) -> (u16, Value) {
        let (status, _, body) = self.signal_exchange(tenant, id, signed, sent, content_type);
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// [`Client::signal_raw`], with the answer's headers and its body as text.
    pub fn signal_exchange(
        &self,
        tenant: &str,
        id: &str,
        signed: &[u8],
        sent: &[u8],
        content_type: &str,
    ) -> (u16, ureq::http::HeaderMap, String) {
        let ts = SystemClock.now_ms() / 1000;
        let sig = sign_standard_webhook(SECRET, id, ts, signed);
        let ts = ts.to_string();
        let headers = [
            ("content-type", content_type),
            ("webhook-id", id),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ];
        self.exchange(
            "POST",
            &format!("/v1/tenants/{tenant}/signals"),
            &headers,
            Some(sent),
        )
    }
}

impl std::ops::Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Server {
    pub fn start(connectors: Arc<dyn Connectors>) -> Server {
        Server::start_with(|app| app.connectors(connectors), "")
    }

    /// A server built by the app builder as `configure` leaves it (the real providers by
    /// default), with `extra` TOML appended to the HVAC tenant's policy (provider settings).
    pub fn start_with(configure: impl FnOnce(AppBuilder) -> AppBuilder, extra: &str) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), configure, extra)
    }

    /// [`Server::start_with`] on the data folder `dir` (which may hold a store already).
    pub fn start_in(
        dir: tempfile::TempDir,
        configure: impl FnOnce(AppBuilder) -> AppBuilder,
        extra: &str,
    ) -> Server {
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        for (tenant, file) in [
            (HVAC, "lone-star-hvac.toml"),
            (SAAS, "northwind-software.toml"),
        ] {
            let mut text = with_webhooks(&redial_bench::all_day_window(&super::policy_text(file)));
            if tenant == HVAC {
                text.push_str(extra);
            }
            std::fs::write(policies.join(format!("{tenant}.toml")), &text).unwrap();
        }
        let builder = AppBuilder::new(dir.path())
            .store(super::backend::store_at(&dir.path().join("db")))
            .runtime(Arc::new(super::runtime()))
            .policies_dir(&policies)
            .admin_token(ADMIN);
        let app = configure(builder).build().unwrap();
        let engine = app.engine.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                app.serve(listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Server {
            client: Client::new(&format!("http://{addr}")),
            engine,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn simulated() -> Server {
        Server::simulated_with(|app| app)
    }

    /// A server whose every channel goes to the simulator, otherwise as `configure` sets
    /// it up (limits, policies).
    pub fn simulated_with(configure: impl FnOnce(AppBuilder) -> AppBuilder) -> Server {
        Server::simulated_in(tempfile::tempdir().unwrap(), configure)
    }

    /// [`Server::simulated_with`] on the data folder `dir`.
    pub fn simulated_in(
        dir: tempfile::TempDir,
        configure: impl FnOnce(AppBuilder) -> AppBuilder,
    ) -> Server {
        let sim = Simulator::new(Arc::new(SystemClock), HashMap::new(), None).unwrap();
        Server::start_in(dir, |app| configure(app.connectors(Arc::new(sim))), "")
    }

    pub fn token_for(&self, tenant: &str) -> String {
        let auth = format!("Bearer {ADMIN}");
        let (status, body) = self.send(
            "POST",
            &format!("/v1/tenants/{tenant}/tokens"),
            &[("authorization", &auth)],
            Some(b""),
        );
        assert_eq!(status, 201, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls a case until `done(case JSON)` holds (bounded; the loop runs in the background).
    pub fn wait_for(&self, case: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = self.get(&format!("/v1/cases/{case}"), ADMIN);
            if done(&v) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls a case until it leaves the open states.
    pub fn settled(&self, case: &str) -> Value {
        self.wait_for(case, |v| {
            !["waiting", "dialing"].contains(&v["case"]["state"]["state"].as_str().unwrap_or(""))
        })
    }

    pub fn signals_recorded(&self, tenant: &str) -> u64 {
        self.engine.store().counters(tenant).unwrap().signals
    }
}

impl Server {
    /// Stops the server and hands back its data folder, for a restart on it.
    #[allow(dead_code)]
    pub fn stop(mut self) -> tempfile::TempDir {
        self.shut_down();
        std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap())
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

pub fn missed_call(caller: &str) -> Value {
    json!({ "kind": "missed-call", "caller": caller, "line": "+15125550200", "context": { "name": "Dana", "message": "no heat upstairs" } })
}

/// A Twilio form body and its params (for signing).
pub fn twilio_form(params: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = serde_urlencoded::to_string(&owned).unwrap().into_bytes();
    (owned, body)
}

/// A dialer that places calls whose reports arrive later by webhook (like Vapi).
pub struct PlacesCalls(pub Simulator);

impl Connectors for PlacesCalls {
    fn deliver(&self, item: &OutboxItem, to: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        match item.effect {
            Effect::Dial { .. } => Ok(Delivery::CallPlaced {
                provider_id: format!("vapi-{}", item.key),
            }),
            _ => self.0.deliver(item, to),
        }
    }
}

/// Starts `redial serve` as `command` sets it up (it must listen on a free port, e.g.
/// `--addr 127.0.0.1:0`), passing each line it prints before its address to `on_line`;
/// returns the child and a client for it once it serves.
pub fn spawn_serve(
    mut command: std::process::Command,
    mut on_line: impl FnMut(&str),
) -> (std::process::Child, Client) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| {
            let l = l.ok()?;
            on_line(&l);
            Some(l).filter(|l| l.contains("http://"))
        })
        .expect("serve prints its address");
    // Keep reading, so what it prints later (on a clean stop) does not meet a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let url = line[line.find("http://").unwrap()..].trim().to_string();
    (child, Client::new(&url))
}

//! A provider on loopback that misbehaves on demand: it hangs (accepts, reads, never
//! answers), fails (HTTP 500) or answers like Vapi placing a call (and, asked about it
//! with `GET /call/{id}`, like Vapi describing it as ended). Plain TCP, so a hung request
//! holds nothing but its own socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};

/// How the stub answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Hang = 0,
    Fail = 1,
    PlaceCall = 2,
}

/// A running stub; it lives as long as the test process.
#[derive(Clone)]
pub struct ProviderStub {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
    lookups: Arc<AtomicUsize>,
}

impl ProviderStub {
    pub fn start(mode: Mode) -> ProviderStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stub = ProviderStub {
            base: format!("http://{}", listener.local_addr().unwrap()),
            mode: Arc::new(AtomicU8::new(mode as u8)),
            requests: Arc::default(),
            lookups: Arc::default(),
        };
        let serving = stub.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let stub = serving.clone();
                std::thread::spawn(move || stub.serve(conn));
            }
        });
        stub
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, SeqCst);
    }

    /// Requests whose head and body arrived.
    pub fn requests(&self) -> usize {
        self.requests.load(SeqCst)
    }

    /// `GET /call/{id}` requests answered.
    pub fn lookups(&self) -> usize {
        self.lookups.load(SeqCst)
    }

    /// Waits (bounded) until `n` requests arrived.
    pub fn wait_for_requests(&self, n: usize) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.requests() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.requests()
    }

    fn serve(&self, conn: TcpStream) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut out = conn;
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            let mut request_line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if request_line.is_empty() {
                    request_line = line.clone();
                }
                let lower = line.to_ascii_lowercase();
                if let Some(n) = lower.strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            self.requests.fetch_add(1, SeqCst);
            let answer = match self.mode.load(SeqCst) {
                0 => {
                    // Holds the connection open until the client gives up.
                    let _ = reader.read(&mut [0; 1]);
                    return;
                }
                1 => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nfail"
                    .to_string(),
                _ if request_line.starts_with("GET /call/") => {
                    self.lookups.fetch_add(1, SeqCst);
                    let json = r#"{"id":"call-stub","status":"ended","endedReason":"customer-ended-call","analysis":{"structuredData":{"timeline":"today","role":true}}}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    )
                }
                _ => {
                    let json = r#"{"id":"call-stub"}"#;
                    format!(
                        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    )
                }
            };
            if out.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// A `[voice]` table that dials through Vapi's API at `base`.
pub fn vapi_voice(base: &str) -> String {
    format!(
        "\n[voice]\nprovider = \"vapi\"\n[voice.settings]\nbase_url = \"{base}\"\n\
         api_key = \"vapi-key\"\nassistant_id = \"asst\"\nphone_number_id = \"pn\"\n"
    )
}

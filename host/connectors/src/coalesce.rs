//! A provider request leaves in one write: its head and the start of its body together.
//!
//! Why: ureq 3 writes a request's head, then its body, as two writes. A dial is a head of
//! about 250 bytes and a JSON body of about 450, so each delivery cost two system calls
//! and two TCP segments (two TLS records against a real provider), and the receiving end
//! often woke twice to read them. [`Coalesce`] holds a request's head back and sends it
//! with the body's first bytes; a request without a body goes out when ureq starts waiting
//! for the answer.

use ureq::Error;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// Wraps each connection the connectors before it in the chain make in a [`Coalesce`].
#[derive(Debug, Default)]
pub struct CoalescingConnector;

impl<In: Transport> Connector<In> for CoalescingConnector {
    type Out = Coalesce<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        Ok(chained.map(Coalesce::new))
    }
}

/// A connection that sends each request's head together with what ureq writes next.
#[derive(Debug)]
pub struct Coalesce<T> {
    inner: T,
    /// The request head, written by ureq but not sent yet.
    held: Vec<u8>,
    /// The next write starts a request (nothing sent since the last answer was awaited).
    hold_next: bool,
}

impl<T: Transport> Coalesce<T> {
    /// A fresh connection: its first write is a request's head.
    fn new(inner: T) -> Self {
        Coalesce {
            inner,
            held: Vec::new(),
            hold_next: true,
        }
    }

    /// Sends the held head on its own (ureq is about to wait for an answer, or the next
    /// write does not fit beside it). ureq has handed over all it wrote, so the output
    /// buffer is free to carry it.
    fn send_held(&mut self, timeout: NextTimeout) -> Result<(), Error> {
        let held = std::mem::take(&mut self.held);
        for chunk in held.chunks(self.inner.buffers().output().len().max(1)) {
            self.inner.buffers().output()[..chunk.len()].copy_from_slice(chunk);
            self.inner.transmit_output(chunk.len(), timeout)?;
        }
        Ok(())
    }
}

impl<T: Transport> Transport for Coalesce<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        if std::mem::take(&mut self.hold_next) {
            self.held
                .extend_from_slice(&self.inner.buffers().output()[..amount]);
            return Ok(());
        }
        if self.held.is_empty() {
            return self.inner.transmit_output(amount, timeout);
        }
        let head = self.held.len();
        let output = self.inner.buffers().output();
        if head + amount <= output.len() {
            output.copy_within(..amount, head);
            output[..head].copy_from_slice(&self.held);
            self.held.clear();
            return self.inner.transmit_output(head + amount, timeout);
        }
        let body = output[..amount].to_vec();
        self.send_held(timeout)?;
        self.inner.buffers().output()[..amount].copy_from_slice(&body);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.send_held(timeout)?;
        self.hold_next = true;
        self.inner.await_input(timeout)
    }

    // ureq waits for an answer through this one; the default would skip `await_input`
    // (and so the held head) when input is already buffered.
    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.send_held(timeout)?;
        self.hold_next = true;
        self.inner.maybe_await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;
    use ureq::unversioned::transport::LazyBuffers;

    /// A transport that records what it is asked to send.
    #[derive(Debug)]
    struct Recorder {
        buffers: LazyBuffers,
        sent: Vec<Vec<u8>>,
    }

    impl Transport for Recorder {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), Error> {
            let bytes = self.buffers.output()[..amount].to_vec();
            self.sent.push(bytes);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, Error> {
            Ok(true)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn coalesce(output: usize) -> Coalesce<Recorder> {
        Coalesce::new(Recorder {
            buffers: LazyBuffers::new(64, output),
            sent: Vec::new(),
        })
    }

    /// What ureq does for each part of a request: write it into the output, hand it over.
    fn write(t: &mut Coalesce<Recorder>, part: &[u8]) {
        t.buffers().output()[..part.len()].copy_from_slice(part);
        t.transmit_output(part.len(), NextTimeout::default())
            .unwrap();
    }

    fn sent(t: &Coalesce<Recorder>) -> Vec<&str> {
        t.inner
            .sent
            .iter()
            .map(|b| std::str::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn a_head_goes_out_with_the_body_and_later_writes_pass_straight_through() {
        let mut t = coalesce(64);
        write(&mut t, b"HEAD;");
        assert!(sent(&t).is_empty(), "the head waits for the body");
        write(&mut t, b"body-1;");
        write(&mut t, b"body-2;");
        assert_eq!(sent(&t), ["HEAD;body-1;", "body-2;"]);
        t.await_input(NextTimeout::default()).unwrap();
        write(&mut t, b"NEXT;");
        write(&mut t, b"more;");
        assert_eq!(sent(&t)[2..], ["NEXT;more;"], "each request's head is held");
    }

    #[test]
    fn a_head_without_a_body_goes_out_when_the_answer_is_awaited() {
        let mut t = coalesce(64);
        write(&mut t, b"GET;");
        t.maybe_await_input(NextTimeout::default()).unwrap();
        assert_eq!(sent(&t), ["GET;"]);
        t.await_input(NextTimeout::default()).unwrap();
        assert_eq!(sent(&t), ["GET;"], "nothing is sent twice");
    }

    #[test]
    fn a_body_that_does_not_fit_beside_the_head_follows_it() {
        let mut t = coalesce(8);
        write(&mut t, b"HEAD;");
        write(&mut t, b"12345678");
        assert_eq!(sent(&t), ["HEAD;", "12345678"]);
    }

    /// Serves `answers` requests on one connection; returns how many reads each took.
    fn server(answers: usize) -> (String, std::thread::JoinHandle<Vec<(String, usize)>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            for _ in 0..answers {
                let (mut request, mut reads) = (Vec::new(), 0);
                loop {
                    let mut buf = [0u8; 4096];
                    let n = conn.read(&mut buf).unwrap();
                    reads += 1;
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |l| l.trim().parse::<usize>().unwrap());
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                    // Let a second write (if any) arrive as its own segment.
                    std::thread::sleep(Duration::from_millis(20));
                }
                seen.push((String::from_utf8(request).unwrap(), reads));
                conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .unwrap();
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn head_and_body_arrive_in_one_read_and_requests_stay_intact() {
        let (url, server) = server(3);
        let agent = crate::resolver::agent(ureq::Agent::config_builder().build());
        let body = r#"{"customer":{"number":"+15551230000"}}"#;
        let mut answer = agent.post(format!("{url}/call")).send(body).unwrap();
        assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");
        let mut answer = agent.get(format!("{url}/calls/1")).call().unwrap();
        assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");
        let big = "x".repeat(300_000);
        let mut answer = agent.post(format!("{url}/big")).send(&big).unwrap();
        assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");

        let seen = server.join().unwrap();
        assert!(seen[0].0.starts_with("POST /call HTTP/1.1\r\n"));
        assert!(seen[0].0.ends_with(body), "{}", seen[0].0);
        assert_eq!(seen[0].1, 1, "head and body came in one read");
        assert!(seen[1].0.starts_with("GET /calls/1 HTTP/1.1\r\n"));
        assert!(
            seen[1].0.ends_with("\r\n\r\n"),
            "a request without a body is sent"
        );
        assert!(
            seen[2].0.ends_with(&big),
            "a body larger than the buffer arrives whole"
        );
    }
}

//! Real peers on loopback for the delivery tests: an SMTP server (mailin-embedded) that keeps
//! what it receives and can be told to refuse, and an SMTP server that hangs up mid-message.
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mailin_embedded::{response, Handler, Response, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Shared {
    received: Vec<Vec<u8>>,
    /// When each message of `received` had been taken.
    received_at: Vec<Instant>,
    /// Answers to give to the next RCPT commands, before accepting again.
    rcpt_script: VecDeque<Response>,
    /// Recipients refused for good (550).
    unknown: Vec<String>,
    /// Refuse every sender (MAIL FROM) with 550.
    refuse_senders: bool,
}

#[derive(Clone)]
struct Sink {
    shared: Arc<Mutex<Shared>>,
    current: Vec<u8>,
}

impl Handler for Sink {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        if self.shared.lock().unwrap().refuse_senders {
            return response::NO_MAILBOX;
        }
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let mut s = self.shared.lock().unwrap();
        if s.unknown.iter().any(|u| to.contains(u.as_str())) {
            return response::NO_MAILBOX;
        }
        s.rcpt_script.pop_front().unwrap_or(response::OK)
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.current.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = std::mem::take(&mut self.current);
        let mut s = self.shared.lock().unwrap();
        s.received.push(mail);
        s.received_at.push(Instant::now());
        response::OK
    }
}

/// An SMTP server on a free loopback port, serving in its own threads until the tests end.
pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl SmtpSink {
    pub fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut server = Server::new(Sink {
            shared: shared.clone(),
            current: Vec::new(),
        });
        server
            .with_name("sink.example.vn")
            .with_num_threads(4)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, shared }
    }

    /// The raw messages received so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The raw messages received so far, each with when it was taken.
    pub fn received_timed(&self) -> Vec<(Vec<u8>, Instant)> {
        let s = self.shared.lock().unwrap();
        s.received
            .iter()
            .cloned()
            .zip(s.received_at.iter().copied())
            .collect()
    }

    /// The next RCPT commands get these answers (then the server accepts again).
    pub fn refuse_next(&self, answers: Vec<Response>) {
        self.shared.lock().unwrap().rcpt_script.extend(answers);
    }

    /// Every sender is refused for good (MAIL FROM answered 550).
    pub fn refuse_senders(&self) {
        self.shared.lock().unwrap().refuse_senders = true;
    }

    /// Recipients containing `fragment` are refused for good.
    pub fn unknown_mailbox(&self, fragment: &str) {
        self.shared.lock().unwrap().unknown.push(fragment.into());
    }
}

/// An SMTP server that greets, accepts the envelope, and hangs up when the message data starts.
pub async fn smtp_that_hangs_up() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 hangs-up ESMTP\r\n").await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 hangs-up\r\n",
                        "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                        // Mid-send: the envelope was taken, the message never is.
                        "DATA" => return,
                        "QUIT" => return,
                        _ => b"500 what\r\n",
                    };
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// An SMTP server that greets with 554: it will not serve us at all.
pub async fn smtp_that_refuses_service() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"554 no service here\r\n").await;
        }
    });
    port
}

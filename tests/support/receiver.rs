//! A webhook receiver on a loopback port: it records every request (method, path, headers,
//! raw body) and answers each with the status it is set to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    status: Arc<Mutex<u16>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Listens on a free loopback port, answering 200 until told otherwise.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let receiver = Self { url, status: Arc::new(Mutex::new(200)), received: Arc::default() };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let serving = serving.clone();
                tokio::spawn(async move { serving.serve(stream).await });
            }
        });
        receiver
    }

    pub fn answer(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to `seconds` for at least `count` requests.
    pub async fn wait_for(&self, count: usize, seconds: u64) -> Vec<Received> {
        for _ in 0..seconds * 20 {
            if self.received.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.received()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let Ok(read) = stream.read(&mut chunk).await else { return };
            if read == 0 {
                return;
            }
            buffer.extend_from_slice(&chunk[..read]);
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let mut lines = head.split("\r\n");
            let mut start = lines.next().unwrap_or_default().split(' ');
            let (method, path) = (start.next().unwrap_or_default(), start.next().unwrap_or_default());
            let headers: HashMap<String, String> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
                .collect();
            let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let Ok(read) = stream.read(&mut chunk).await else { return };
                if read == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            let received = Received { method: method.into(), path: path.into(), headers, body };
            self.received.lock().unwrap().push(received);
            let status = *self.status.lock().unwrap();
            let answer =
                format!("HTTP/1.1 {status} Status\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            let _ = stream.write_all(answer.as_bytes()).await;
            return;
        }
    }
}

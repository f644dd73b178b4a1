//! A TCP proxy between the functions and the emulator that misbehaves on demand: it resets
//! connections, stalls them past the SDK's timeouts, cuts requests halfway, or lets a request
//! through and loses the answer. The emulator behind it keeps running.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// Accept, then close at once (the client sees a reset connection).
    Reset,
    /// Hold the request this long before forwarding it.
    Stall(Duration),
    /// Forward the first bytes of the request, then close both sides.
    CutRequest,
    /// Forward the request, wait for the emulator's answer, then close without passing it on.
    LoseAnswer,
    /// Answer every request as DynamoDB does when it throttles.
    Throttle,
}

pub struct FaultProxy {
    pub url: String,
    fault: Arc<Mutex<Fault>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr =
            upstream.trim_start_matches("http://").trim_end_matches('/').parse().expect("host:port upstream");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let shared = fault.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = *shared.lock().unwrap();
                tokio::spawn(serve(client, upstream, fault));
            }
        });
        Self { url, fault }
    }

    /// Applies to connections opened from now on (give each fault a fresh SDK client: its
    /// pool would otherwise reuse connections opened before).
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, fault: Fault) {
    match fault {
        Fault::Reset => {}
        Fault::Stall(pause) => {
            tokio::time::sleep(pause).await;
            if let Ok(server) = TcpStream::connect(upstream).await {
                pipe(client, server).await;
            }
        }
        Fault::Pass => {
            if let Ok(server) = TcpStream::connect(upstream).await {
                pipe(client, server).await;
            }
        }
        Fault::CutRequest => {
            let mut buf = [0u8; 64];
            if let (Ok(n), Ok(mut server)) = (client.read(&mut buf).await, TcpStream::connect(upstream).await)
            {
                let _ = server.write_all(&buf[..n / 2]).await;
            }
        }
        Fault::Throttle => {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = client.read(&mut buf).await;
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes()).await;
        }
        Fault::LoseAnswer => {
            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
            let (mut request, mut answer) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
            // Forward until the emulator starts answering: by then it has the whole request.
            loop {
                tokio::select! {
                    read = client.read(&mut request) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if server.write_all(&request[..n]).await.is_err() { return },
                    },
                    answered = server.read(&mut answer) => {
                        let _ = answered;
                        // Let the emulator finish its work, then drop the answer and both sides.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        return;
                    }
                }
            }
        }
    }
}

async fn pipe(mut client: TcpStream, mut server: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

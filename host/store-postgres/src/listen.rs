//! Wakes a node when another commits outbox items. A step's transaction notifies the
//! `redial_outbox` channel with its node's name when it queues side effects; every node
//! listens on a connection of its own and flags anything another node sent, so the tenant's
//! owner delivers a dial queued by a signal that reached a different node within one pass
//! of its loop, instead of at its next periodic outbox scan.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::AsyncMessage;

/// The channel steps notify.
pub(crate) const CHANNEL: &str = "redial_outbox";

/// Listens until the store's runtime shuts down, reconnecting after a lost connection;
/// sets `flag` for every notification another node sent, and once after each reconnect
/// for whatever was sent while it was away.
pub(crate) async fn listen(config: tokio_postgres::Config, node: String, flag: Arc<AtomicBool>) {
    let mut reconnecting = false;
    loop {
        if let Ok((client, mut connection)) = config.connect(tokio_postgres::NoTls).await {
            let (own, others) = (node.clone(), flag.clone());
            let pump = tokio::spawn(async move {
                while let Some(message) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    match message {
                        Ok(AsyncMessage::Notification(n)) if n.payload() != own => {
                            others.store(true, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                if reconnecting {
                    flag.store(true, Ordering::SeqCst);
                }
                reconnecting = true;
                let _ = pump.await;
            } else {
                pump.abort();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

//! The relay on 127.0.0.1 with real QUIC clients, in one process.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use hush_protocol::{
    ClientFrame, Envelope, ErrorCode, IdentityKeys, MailboxId, OneTimePrekey, PrekeyUpload,
    RelayAddress, RelayFrame, Signature, SignedPrekey,
};
use hush_relay::Relay;
use hush_relay::config::Config;
use hush_relay::store::{MemoryStore, RelayStore, SledStore};
use hush_relay::tls::RelayIdentity;
use hush_tests::{RawConnection, TestClient, random_id, random_key};
use tokio_util::sync::CancellationToken;

struct Running {
    address: RelayAddress,
    store: Arc<dyn RelayStore>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn start_with(config: Config, sled: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn RelayStore> = if sled {
        Arc::new(SledStore::open(&dir.path().join("store")).unwrap())
    } else {
        Arc::new(MemoryStore::new())
    };
    let identity = RelayIdentity::load_or_create(dir.path()).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay = Relay::from_parts(config, store.clone(), &identity, socket).unwrap();
    let address = relay.address().clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    Running {
        address,
        store,
        shutdown,
        task,
        _dir: dir,
    }
}

fn start() -> Running {
    start_with(Config::default(), false)
}

fn envelope(recipients: &[MailboxId], payload: &[u8]) -> Envelope {
    Envelope {
        id: random_id(),
        recipients: recipients.to_vec(),
        ttl_secs: 0,
        ephemeral: false,
        payload: payload.to_vec(),
    }
}

fn error_code(frame: &RelayFrame) -> Option<ErrorCode> {
    match frame {
        RelayFrame::Error(error) => Some(error.code),
        _ => None,
    }
}

#[tokio::test]
async fn offline_recipient_drains_in_order() {
    let relay = start_with(Config::default(), true);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let bob_key = bob.key.clone();
    let bob_mailbox = bob.mailbox;
    drop(bob); // offline
    let mut sent = Vec::new();
    for n in 0..50u32 {
        sent.push(
            alice
                .send_stored(&[bob_mailbox], &n.to_be_bytes())
                .await
                .unwrap(),
        );
    }
    let mut bob = TestClient::login(&relay.address, bob_mailbox, bob_key)
        .await
        .unwrap();
    bob.subscribe().await.unwrap();
    let received = bob.drain().await.unwrap();
    let ids: Vec<_> = received.iter().map(|d| d.id).collect();
    assert_eq!(ids, sent, "all 50, in the order they were sent");
    assert_eq!(received[7].payload, 7u32.to_be_bytes());
    assert_eq!(
        relay.store.pending().envelopes,
        0,
        "acked envelopes are gone"
    );
    relay.stop().await;
}

#[tokio::test]
async fn online_recipient_gets_a_push() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut bob = TestClient::create(&relay.address).await.unwrap();
    bob.subscribe().await.unwrap();
    assert_eq!(
        bob.next().await.unwrap(),
        RelayFrame::Drained,
        "empty mailbox"
    );
    let id = alice
        .send_stored(&[bob.mailbox], b"hello bob")
        .await
        .unwrap();
    let delivery = bob.next_delivery().await.unwrap();
    assert_eq!(
        (delivery.id, delivery.payload.as_slice()),
        (id, b"hello bob".as_slice())
    );
    bob.ack(&[id]).await.unwrap();
    assert_eq!(bob.next().await.unwrap(), RelayFrame::Drained);
    relay.stop().await;
}

#[tokio::test]
async fn three_recipients_one_copy_deleted_after_the_third_ack() {
    let relay = start_with(Config::default(), true);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut member = TestClient::create(&relay.address).await.unwrap();
        member.subscribe().await.unwrap();
        assert_eq!(member.next().await.unwrap(), RelayFrame::Drained);
        members.push(member);
    }
    let mailboxes: Vec<_> = members.iter().map(|m| m.mailbox).collect();
    let id = alice
        .send_stored(&mailboxes, b"to all three")
        .await
        .unwrap();
    assert_eq!(relay.store.pending().envelopes, 1, "one stored copy");
    for (i, member) in members.iter_mut().enumerate() {
        let delivery = member.next_delivery().await.unwrap();
        assert_eq!(delivery.id, id);
        member.ack(&[id]).await.unwrap();
        assert_eq!(member.next().await.unwrap(), RelayFrame::Drained);
        let still_there = relay.store.contains(&id).unwrap();
        assert_eq!(
            still_there,
            i < 2,
            "present until the third ack, gone after it"
        );
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_retried_send_is_stored_and_delivered_once() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut bob = TestClient::create(&relay.address).await.unwrap();
    let env = envelope(&[bob.mailbox], b"once");
    for _ in 0..3 {
        assert_eq!(
            alice.send(env.clone()).await.unwrap(),
            RelayFrame::Stored { id: env.id }
        );
    }
    bob.subscribe().await.unwrap();
    let received = bob.drain().await.unwrap();
    assert_eq!(received.len(), 1);
    // Even after full delivery, a late retry is recognised and not delivered again.
    assert_eq!(
        alice.send(env.clone()).await.unwrap(),
        RelayFrame::Stored { id: env.id }
    );
    assert_eq!(relay.store.pending().envelopes, 0);
    relay.stop().await;
}

#[tokio::test]
async fn ephemeral_envelopes_reach_only_connected_recipients_and_are_never_stored() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut bob = TestClient::create(&relay.address).await.unwrap();
    let carol = TestClient::create(&relay.address).await.unwrap();
    let (carol_mailbox, carol_key) = (carol.mailbox, carol.key.clone());
    drop(carol);
    bob.subscribe().await.unwrap();
    assert_eq!(bob.next().await.unwrap(), RelayFrame::Drained);
    let mut typing = envelope(&[bob.mailbox, carol_mailbox], b"typing...");
    typing.ephemeral = true;
    assert_eq!(
        alice.send(typing.clone()).await.unwrap(),
        RelayFrame::Relayed { id: typing.id }
    );
    match bob.next().await.unwrap() {
        RelayFrame::Ephemeral(delivery) => assert_eq!(delivery.payload, b"typing..."),
        other => panic!("expected ephemeral, got {other:?}"),
    }
    assert_eq!(relay.store.pending().envelopes, 0);
    let mut carol = TestClient::login(&relay.address, carol_mailbox, carol_key)
        .await
        .unwrap();
    carol.subscribe().await.unwrap();
    assert_eq!(
        carol.next().await.unwrap(),
        RelayFrame::Drained,
        "no stale typing later"
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_newer_subscription_takes_over_delivery() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut first = TestClient::create(&relay.address).await.unwrap();
    first.subscribe().await.unwrap();
    assert_eq!(first.next().await.unwrap(), RelayFrame::Drained);
    let mut second = first.reconnect(&relay.address).await.unwrap();
    second.subscribe().await.unwrap();
    assert_eq!(first.next().await.unwrap(), RelayFrame::Unsubscribed);
    assert_eq!(second.next().await.unwrap(), RelayFrame::Drained);
    let id = alice.send_stored(&[first.mailbox], b"x").await.unwrap();
    assert_eq!(second.next_delivery().await.unwrap().id, id);
    relay.stop().await;
}

#[tokio::test]
async fn unacked_deliveries_come_again_after_a_reconnect() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut bob = TestClient::create(&relay.address).await.unwrap();
    let id = alice.send_stored(&[bob.mailbox], b"ack me").await.unwrap();
    bob.subscribe().await.unwrap();
    assert_eq!(bob.next_delivery().await.unwrap().id, id);
    let mut again = bob.reconnect(&relay.address).await.unwrap();
    drop(bob);
    again.subscribe().await.unwrap();
    let received = again.drain().await.unwrap();
    assert_eq!(received.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
    relay.stop().await;
}

#[tokio::test]
async fn prekeys_and_usernames_over_the_wire() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let upload = PrekeyUpload {
        identity: IdentityKeys {
            signing: [1; 32],
            dh: [2; 32],
            dh_signature: Signature([3; 64]),
        },
        signed_prekey: SignedPrekey {
            id: 1,
            public: [4; 32],
            signature: Signature([5; 64]),
        },
        one_time: (0..2)
            .map(|id| OneTimePrekey {
                id,
                public: [6; 32],
            })
            .collect(),
    };
    let published = bob
        .raw
        .request(&ClientFrame::PublishPrekeys(upload))
        .await
        .unwrap();
    assert_eq!(
        published,
        RelayFrame::PrekeyCount {
            one_time_remaining: 2
        }
    );
    let fetch = ClientFrame::FetchPrekeys {
        mailbox: bob.mailbox,
    };
    let mut handed_out = Vec::new();
    for _ in 0..3 {
        match alice.raw.request(&fetch).await.unwrap() {
            RelayFrame::PrekeyBundle(bundle) => handed_out.push(bundle.one_time.map(|k| k.id)),
            other => panic!("expected a bundle, got {other:?}"),
        }
    }
    assert_eq!(
        handed_out,
        vec![Some(0), Some(1), None],
        "each one-time prekey once"
    );
    let none = alice
        .raw
        .request(&ClientFrame::FetchPrekeys {
            mailbox: alice.mailbox,
        })
        .await;
    assert_eq!(error_code(&none.unwrap()), Some(ErrorCode::NoPrekeys));

    let claim = |name: &str| ClientFrame::ClaimUsername {
        username: name.into(),
        identity_key: [7; 32],
    };
    assert_eq!(
        bob.raw.request(&claim("@Bob")).await.unwrap(),
        RelayFrame::UsernameClaimed {
            username: "bob".into()
        }
    );
    assert_eq!(
        error_code(&alice.raw.request(&claim("bob")).await.unwrap()),
        Some(ErrorCode::UsernameTaken)
    );
    assert_eq!(
        error_code(&alice.raw.request(&claim("no way")).await.unwrap()),
        Some(ErrorCode::InvalidRequest)
    );
    match alice
        .raw
        .request(&ClientFrame::LookupUsername {
            username: "BOB".into(),
        })
        .await
        .unwrap()
    {
        RelayFrame::UsernameFound(record) => assert_eq!(record.mailbox, bob.mailbox),
        other => panic!("expected a username, got {other:?}"),
    }
    let missing = ClientFrame::LookupUsername {
        username: "carol".into(),
    };
    let missing = alice.raw.request(&missing).await.unwrap();
    assert_eq!(error_code(&missing), Some(ErrorCode::UnknownUsername));
    relay.stop().await;
}

/// After each kind of bad input, a well-behaved client still gets served.
async fn still_serving(address: &RelayAddress) {
    let alice = TestClient::create(address).await.unwrap();
    let mut bob = TestClient::create(address).await.unwrap();
    let id = alice
        .send_stored(&[bob.mailbox], b"still here")
        .await
        .unwrap();
    bob.subscribe().await.unwrap();
    assert_eq!(bob.next_delivery().await.unwrap().id, id);
}

#[tokio::test]
async fn garbage_bytes_close_only_that_connection() {
    let relay = start();
    let mut raw = RawConnection::connect(&relay.address).await.unwrap();
    raw.control_send
        .write_all(&[0, 0, 0, 3, 0xde, 0xad, 0xbe])
        .await
        .unwrap();
    match raw.read().await.unwrap() {
        RelayFrame::Error(error) => assert_eq!(error.code, ErrorCode::Malformed),
        other => panic!("expected an error, got {other:?}"),
    }
    let (code, _) = raw.closed_with().await.unwrap();
    assert_eq!(code, u64::from(ErrorCode::Malformed.close_code()));
    still_serving(&relay.address).await;
    relay.stop().await;
}

#[tokio::test]
async fn an_oversize_frame_is_refused_without_reading_it() {
    let relay = start();
    let mut raw = RawConnection::connect(&relay.address).await.unwrap();
    raw.control_send
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .unwrap();
    let (code, reason) = raw.closed_with().await.unwrap();
    assert_eq!(
        code,
        u64::from(ErrorCode::TooLarge.close_code()),
        "{reason}"
    );
    // The same on a request stream of an authenticated client.
    let alice = TestClient::create(&relay.address).await.unwrap();
    let (mut send, _recv) = alice.raw.connection.open_bi().await.unwrap();
    send.write_all(&(64u32 * 1024 * 1024).to_be_bytes())
        .await
        .unwrap();
    let (code, _) = alice.raw.closed_with().await.unwrap();
    assert_eq!(code, u64::from(ErrorCode::TooLarge.close_code()));
    still_serving(&relay.address).await;
    relay.stop().await;
}

#[tokio::test]
async fn an_envelope_over_the_size_limit_is_refused_and_the_connection_stays() {
    let mut config = Config::default();
    config.limits.max_envelope_bytes = 1024;
    let relay = start_with(config, false);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let answer = alice
        .send(envelope(&[alice.mailbox], &[0; 1025]))
        .await
        .unwrap();
    assert_eq!(error_code(&answer), Some(ErrorCode::TooLarge));
    alice
        .send_stored(&[alice.mailbox], &[0; 1024])
        .await
        .unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut raw = RawConnection::connect(&relay.address).await.unwrap();
    let nonce = raw.hello().await.unwrap();
    let signature = raw.sign(&random_key(), &nonce).unwrap(); // not Alice's key
    raw.write(&ClientFrame::Authenticate {
        mailbox: alice.mailbox,
        signature,
    })
    .await
    .unwrap();
    match raw.read().await.unwrap() {
        RelayFrame::Error(error) => assert_eq!(error.code, ErrorCode::Unauthorized),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let (code, _) = raw.closed_with().await.unwrap();
    assert_eq!(code, u64::from(ErrorCode::Unauthorized.close_code()));
    still_serving(&relay.address).await;
    relay.stop().await;
}

#[tokio::test]
async fn a_replayed_signature_is_refused() {
    let relay = start();
    let key = random_key();
    let alice = TestClient::create_with(&relay.address, key.clone())
        .await
        .unwrap();
    // A signature that was valid on one connection...
    let mut first = RawConnection::connect(&relay.address).await.unwrap();
    let nonce = first.hello().await.unwrap();
    let captured = first.sign(&key, &nonce).unwrap();
    first
        .write(&ClientFrame::Authenticate {
            mailbox: alice.mailbox,
            signature: captured,
        })
        .await
        .unwrap();
    assert!(matches!(
        first.read().await.unwrap(),
        RelayFrame::Authenticated { .. }
    ));
    // ...is worthless on another.
    let mut second = RawConnection::connect(&relay.address).await.unwrap();
    second.hello().await.unwrap();
    second
        .write(&ClientFrame::Authenticate {
            mailbox: alice.mailbox,
            signature: captured,
        })
        .await
        .unwrap();
    match second.read().await.unwrap() {
        RelayFrame::Error(error) => assert_eq!(error.code, ErrorCode::Unauthorized),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    still_serving(&relay.address).await;
    relay.stop().await;
}

#[tokio::test]
async fn sending_before_authentication_is_refused() {
    let relay = start();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let mut raw = RawConnection::connect(&relay.address).await.unwrap();
    raw.hello().await.unwrap();
    let answer = raw
        .request(&ClientFrame::Send(envelope(&[bob.mailbox], b"sneaky")))
        .await
        .unwrap();
    assert_eq!(error_code(&answer), Some(ErrorCode::Unauthorized));
    assert_eq!(relay.store.pending().envelopes, 0);
    // Subscribing before authenticating ends the connection.
    raw.write(&ClientFrame::Subscribe).await.unwrap();
    let (code, _) = raw.closed_with().await.unwrap();
    assert_eq!(code, u64::from(ErrorCode::Unauthorized.close_code()));
    still_serving(&relay.address).await;
    relay.stop().await;
}

#[tokio::test]
async fn an_unknown_mailbox_is_a_typed_error() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let ghost = MailboxId::from_bytes([0x42; 16]);
    let answer = alice
        .send(envelope(&[alice.mailbox, ghost], b"?"))
        .await
        .unwrap();
    assert_eq!(error_code(&answer), Some(ErrorCode::UnknownMailbox));
    assert_eq!(
        relay.store.pending().envelopes,
        0,
        "nothing stored for anyone"
    );
    let mut raw = RawConnection::connect(&relay.address).await.unwrap();
    let nonce = raw.hello().await.unwrap();
    let signature = raw.sign(&random_key(), &nonce).unwrap();
    raw.write(&ClientFrame::Authenticate {
        mailbox: ghost,
        signature,
    })
    .await
    .unwrap();
    assert_eq!(
        error_code(&raw.read().await.unwrap()),
        Some(ErrorCode::UnknownMailbox)
    );
    still_serving(&relay.address).await;
    relay.stop().await;
}

#[tokio::test]
async fn a_full_mailbox_tells_the_sender() {
    let mut config = Config::default();
    config.limits.mailbox_max_envelopes = 2;
    let relay = start_with(config, false);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut bob = TestClient::create(&relay.address).await.unwrap();
    alice.send_stored(&[bob.mailbox], b"1").await.unwrap();
    alice.send_stored(&[bob.mailbox], b"2").await.unwrap();
    let full = alice.send(envelope(&[bob.mailbox], b"3")).await.unwrap();
    assert_eq!(error_code(&full), Some(ErrorCode::QuotaExceeded));
    // Once Bob drains, there is room again.
    bob.subscribe().await.unwrap();
    assert_eq!(bob.drain().await.unwrap().len(), 2);
    alice.send_stored(&[bob.mailbox], b"3").await.unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn acking_a_foreign_envelope_is_refused() {
    let relay = start();
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut mallory = TestClient::create(&relay.address).await.unwrap();
    let bob = TestClient::create(&relay.address).await.unwrap();
    let id = alice.send_stored(&[bob.mailbox], b"for bob").await.unwrap();
    mallory.ack(&[id]).await.unwrap();
    match mallory.next().await.unwrap() {
        RelayFrame::Error(error) => assert_eq!(error.code, ErrorCode::UnknownEnvelope),
        other => panic!("expected UnknownEnvelope, got {other:?}"),
    }
    assert!(
        relay.store.contains(&id).unwrap(),
        "Bob's envelope is untouched"
    );
    relay.stop().await;
}

#[tokio::test]
async fn the_request_rate_is_limited_per_connection() {
    let mut config = Config::default();
    config.limits.requests_per_second = 1;
    config.limits.request_burst = 3;
    let relay = start_with(config, false);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(error_code(
            &alice.raw.request(&ClientFrame::PrekeyCount).await.unwrap(),
        ));
    }
    assert_eq!(codes[..3], [None, None, None]);
    assert!(
        codes[3..].contains(&Some(ErrorCode::RateLimited)),
        "{codes:?}"
    );
    // Another connection has its own budget.
    let bob = TestClient::create(&relay.address).await.unwrap();
    assert_eq!(
        error_code(&bob.raw.request(&ClientFrame::PrekeyCount).await.unwrap()),
        None
    );
    relay.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused() {
    let mut config = Config::default();
    config.server.max_connections = 1;
    let relay = start_with(config, false);
    let _alice = TestClient::create(&relay.address).await.unwrap();
    assert!(RawConnection::connect(&relay.address).await.is_err());
    relay.stop().await;
}

#[tokio::test]
async fn a_wrong_pin_is_refused_by_the_client() {
    let relay = start();
    let mut wrong = relay.address.clone();
    wrong.pin[0] ^= 1;
    assert!(RawConnection::connect(&wrong).await.is_err());
    relay.stop().await;
}

#[tokio::test]
async fn shutdown_answers_in_flight_sends_and_stops() {
    let relay = start_with(Config::default(), true);
    let alice = TestClient::create(&relay.address).await.unwrap();
    let id = alice
        .send_stored(&[alice.mailbox], b"before shutdown")
        .await
        .unwrap();
    let store = relay.store.clone();
    relay.stop().await;
    assert!(store.contains(&id).unwrap());
    assert!(
        alice.raw.closed_with().await.is_ok(),
        "clients are told, not left hanging"
    );
}

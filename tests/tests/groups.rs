//! Groups, receipts and message actions end to end: a real relay process, real `hush`
//! processes.

use hush_tests::{Hush, RelayProcess, free_udp_port, metric_value, scrape_metrics, target_binary};

struct World {
    dir: tempfile::TempDir,
    relay: RelayProcess,
    metrics: std::net::SocketAddr,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_udp_port().unwrap());
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let relay = RelayProcess::start(
            &target_binary("hush-relay"),
            &dir.path().join("relay"),
            &listen,
            &["--metrics", &metrics.to_string()],
        )
        .unwrap();
        Self {
            dir,
            relay,
            metrics,
        }
    }

    fn user(&self, name: &str) -> Hush {
        let user = Hush::new(self.dir.path().join(name));
        user.ok(&[
            "init",
            "--relay",
            &self.relay.address.to_string(),
            "--name",
            name,
        ]);
        user
    }

    fn metric(&self, name: &str) -> f64 {
        metric_value(&scrape_metrics(self.metrics).unwrap(), name).unwrap_or(f64::NAN)
    }
}

fn befriend(a: &Hush, a_name: &str, b: &Hush, b_name: &str) {
    a.ok(&["add", b.ok(&["invite"]).stdout.trim(), "--as", b_name]);
    b.ok(&["add", a.ok(&["invite"]).stdout.trim(), "--as", a_name]);
}

fn messages(outcome: &hush_tests::Outcome) -> Vec<serde_json::Value> {
    outcome
        .json_lines()
        .into_iter()
        .filter(|e| e["type"] == "message")
        .collect()
}

fn texts(outcome: &hush_tests::Outcome) -> Vec<String> {
    messages(outcome)
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_group_of_50_gets_every_message_once_from_one_stored_envelope() {
    let world = World::new();
    let owner = world.user("owner");
    let members: Vec<Hush> = (1..50).map(|n| world.user(&format!("m{n:02}"))).collect();
    let invites: Vec<String> = members
        .iter()
        .map(|m| m.ok(&["invite"]).stdout.trim().to_owned())
        .collect();
    for (n, invite) in invites.iter().enumerate() {
        owner.ok(&["add", invite, "--as", &format!("m{:02}", n + 1)]);
    }
    let names: Vec<String> = (1..50).map(|n| format!("m{n:02}")).collect();
    let created = owner.ok(&[
        "--json",
        "group",
        "create",
        "team",
        "--members",
        &names.join(","),
    ]);
    let info = &created.json_lines()[0];
    assert_eq!(info["group"], "#team");
    assert_eq!(info["members"].as_array().unwrap().len(), 50);
    // Round 1: everyone learns of the group and hands out its sender key; round 2: everyone
    // collects the others' keys.
    for member in &members {
        member.ok(&["sync"]);
    }
    owner.ok(&["sync"]);
    for member in &members {
        member.ok(&["sync"]);
    }
    let listed = members[10].ok(&["--json", "groups"]).json_lines();
    assert_eq!(listed[0]["group"], "#team");

    let stored_before = world.metric("hush_relay_envelopes_stored_total");
    owner.ok(&["send", "#team", "hello team"]);
    members[48].ok(&["send", "#team", "hi from m49"]);
    let stored_after = world.metric("hush_relay_envelopes_stored_total");
    assert_eq!(
        stored_after - stored_before,
        2.0,
        "one stored envelope per group message"
    );

    for (n, member) in members.iter().enumerate() {
        let got = member.ok(&["--json", "sync"]);
        let received = messages(&got);
        let hello: Vec<_> = received
            .iter()
            .filter(|m| m["text"] == "hello team")
            .collect();
        assert_eq!(
            hello.len(),
            1,
            "m{:02} got the owner's message once: {received:?}",
            n + 1
        );
        assert_eq!(hello[0]["conversation"], "#team");
        assert_eq!(hello[0]["from"], "owner");
        let expected_own = if n == 48 { 0 } else { 1 };
        assert_eq!(
            received
                .iter()
                .filter(|m| m["text"] == "hi from m49")
                .count(),
            expected_own
        );
    }
    assert_eq!(texts(&owner.ok(&["--json", "sync"])), vec!["hi from m49"]);
    assert_eq!(
        world.metric("hush_relay_envelopes_pending"),
        0.0,
        "everything acked and deleted"
    );
}

#[test]
fn receipts_show_delivered_and_read_per_recipient() {
    let world = World::new();
    let (alice, bob, carol) = (world.user("alice"), world.user("bob"), world.user("carol"));
    befriend(&alice, "alice", &bob, "bob");
    befriend(&alice, "alice", &carol, "carol");
    // 1:1: stored → delivered → read.
    alice.ok(&["send", "bob", "do you read me?"]);
    let status = |who: &Hush, to: &str| {
        who.ok(&["--json", "history", to, "--limit", "1"])
            .json_lines()[0]["status"]
            .clone()
    };
    assert_eq!(status(&alice, "bob"), "stored");
    bob.ok(&["sync"]);
    alice.ok(&["sync"]);
    assert_eq!(status(&alice, "bob"), "delivered");
    bob.ok(&["history", "alice"]); // Bob opens the conversation...
    bob.ok(&["sync"]); // ...and the read receipt goes out with his next connection.
    alice.ok(&["sync"]);
    assert_eq!(status(&alice, "bob"), "read");

    // A group: per recipient.
    alice.ok(&["group", "create", "trio", "--members", "bob,carol"]);
    for user in [&bob, &carol, &alice, &bob, &carol] {
        user.ok(&["sync"]);
    }
    alice.ok(&["send", "#trio", "group question"]);
    bob.ok(&["sync"]);
    carol.ok(&["sync"]);
    carol.ok(&["history", "#trio"]);
    carol.ok(&["sync"]);
    alice.ok(&["sync"]);
    let group_status = status(&alice, "#trio");
    assert_eq!(group_status["bob"], "delivered", "{group_status}");
    assert_eq!(group_status["carol"], "read", "{group_status}");

    // Receipts switched off: Bob's device sends none.
    bob.ok(&["receipts", "off"]);
    alice.ok(&["send", "bob", "no receipts please"]);
    bob.ok(&["sync"]);
    bob.ok(&["history", "alice"]);
    bob.ok(&["sync"]);
    alice.ok(&["sync"]);
    assert_eq!(status(&alice, "bob"), "stored");
}

#[test]
fn delete_for_everyone_edit_react_and_reply_reach_every_member() {
    let world = World::new();
    let (alice, bob, carol) = (world.user("alice"), world.user("bob"), world.user("carol"));
    befriend(&alice, "alice", &bob, "bob");
    befriend(&alice, "alice", &carol, "carol");
    alice.ok(&["group", "create", "crew", "--members", "bob,carol"]);
    for user in [&bob, &carol, &alice, &bob, &carol] {
        user.ok(&["sync"]);
    }
    let sent = bob
        .ok(&["--json", "send", "#crew", "oops, wrong chat"])
        .json_lines();
    let id = sent[0]["id"].as_str().unwrap().to_owned();
    let keep = bob
        .ok(&["--json", "send", "#crew", "typo hree"])
        .json_lines();
    let keep_id = keep[0]["id"].as_str().unwrap().to_owned();
    for user in [&alice, &carol] {
        assert_eq!(
            texts(&user.ok(&["--json", "sync"])),
            vec!["oops, wrong chat", "typo hree"]
        );
    }
    // Bob deletes his own message for everyone and fixes the other.
    bob.ok(&["delete", &id, "--for-everyone"]);
    bob.ok(&["edit", &keep_id, "typo here"]);
    // Carol reacts and replies.
    carol.ok(&["sync"]);
    carol.ok(&["react", &keep_id, "👍"]);
    carol.ok(&["send", "#crew", "nice fix", "--reply", &keep_id]);
    for user in [&alice, &bob, &carol] {
        user.ok(&["sync"]);
        let history = user.ok(&["--json", "history", "#crew"]).json_lines();
        assert!(
            history.iter().all(|m| m["text"] != "oops, wrong chat"),
            "deleted everywhere: {history:?}"
        );
        let fixed: Vec<_> = history
            .iter()
            .filter(|m| m["id"] == keep_id.as_str())
            .collect();
        assert_eq!(fixed[0]["text"], "typo here");
        assert_eq!(fixed[0]["edited"], true);
        assert_eq!(fixed[0]["reactions"][0]["emoji"], "👍");
        let reply: Vec<_> = history.iter().filter(|m| m["text"] == "nice fix").collect();
        assert_eq!(reply[0]["reply_to"], keep_id.as_str());
    }
    // Alice is the owner: she may delete Carol's message for everyone; Carol may not delete
    // Alice's.
    let alices = alice
        .ok(&["--json", "send", "#crew", "from the owner"])
        .json_lines();
    let carols = carol
        .ok(&["--json", "history", "#crew", "--limit", "1"])
        .json_lines();
    let refused = carol.run(&[
        "delete",
        alices[0]["id"].as_str().unwrap(),
        "--for-everyone",
    ]);
    assert_eq!(refused.code, 1, "{refused:?}");
    alice.ok(&[
        "delete",
        carols[0]["id"].as_str().unwrap(),
        "--for-everyone",
    ]);
    bob.ok(&["sync"]);
    let history = bob.ok(&["--json", "history", "#crew"]).json_lines();
    assert!(
        history.iter().all(|m| m["text"] != "nice fix"),
        "{history:?}"
    );
}

#[test]
fn disappearing_messages_leave_every_device() {
    let world = World::new();
    let (alice, bob) = (world.user("alice"), world.user("bob"));
    befriend(&alice, "alice", &bob, "bob");
    alice.ok(&["disappear", "bob", "2s"]);
    alice.ok(&["send", "bob", "this will vanish"]);
    bob.ok(&["sync"]);
    assert_eq!(
        texts(&bob.ok(&["--json", "history", "alice"])),
        vec!["this will vanish"]
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(
        bob.ok(&["--json", "history", "alice"])
            .json_lines()
            .is_empty()
    );
    assert!(
        alice
            .ok(&["--json", "history", "bob"])
            .json_lines()
            .is_empty()
    );
    alice.ok(&["disappear", "bob", "off"]);
    alice.ok(&["send", "bob", "this stays"]);
    bob.ok(&["sync"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        texts(&bob.ok(&["--json", "history", "alice"])),
        vec!["this stays"]
    );
    let bad = alice.run(&["disappear", "bob", "soon"]);
    assert_eq!(bad.code, 1);
}

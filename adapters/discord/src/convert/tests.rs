//! Conversions from Discord's documented JSON (fixtures in `adapters/discord/fixtures/`), each
//! first deserialized with serenity's model types to show the shapes are the real ones.

use super::*;
use serenity::model::application::Interaction;
use serenity::model::channel::GuildChannel;

const APP: u64 = 1100000000000000001;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

fn message(name: &str) -> Message {
    serde_json::from_value(fixture(name)).expect("serenity parses the MESSAGE_CREATE payload")
}

fn facts(in_thread: bool) -> MessageFacts {
    MessageFacts {
        bot_id: APP,
        in_thread,
        allow_bots: false,
    }
}

#[test]
fn mention_in_a_channel_starts_a_thread_keyed_by_the_message() {
    let msg = message("message_create_channel.json");
    let MessageRoute::StartThread(m) = route_message(&msg, &facts(false)) else {
        panic!("expected a new thread");
    };
    assert_eq!(m.platform, Platform::Discord);
    assert_eq!(m.text, "orders-prod is slow");
    assert!(m.mentioned);
    // Discord gives a thread started from a message the message's id.
    let key = m.thread_key();
    assert_eq!(
        (
            key.workspace.as_str(),
            key.channel.as_str(),
            key.thread.as_str()
        ),
        (
            "290926798626357999",
            "1240000000000000001",
            "1240000000000000001"
        )
    );
    assert_eq!(m.user.id, "53908232506183680");
    assert_eq!(m.user.display_name, "Mason (payments)");
    assert_eq!(m.user.groups, ["539082325061836999"]);
    assert_eq!(m.message_id.as_deref(), Some("1240000000000000001"));
    assert_eq!(
        m.link.as_deref(),
        Some("https://discord.com/channels/290926798626357999/645027906669510667/1240000000000000001")
    );
}

#[test]
fn mention_inside_a_thread_stays_in_that_thread() {
    let thread: GuildChannel = serde_json::from_value(fixture("thread_create.json"))
        .expect("serenity parses THREAD_CREATE");
    assert!(is_thread_kind(thread.kind));
    let msg = message("message_create_thread.json");
    assert_eq!(msg.channel_id, thread.id);
    let MessageRoute::InThread(m) = route_message(&msg, &facts(true)) else {
        panic!("expected the existing thread");
    };
    assert_eq!(
        m.text, "orders-prod is slow since 10:00",
        "<@!id> and the comma are stripped"
    );
    assert!(m.mentioned);
    let key = m.thread_key();
    assert_eq!(
        key.to_string(),
        "discord/290926798626357999/1250000000000000001/1250000000000000001"
    );
    assert_eq!(
        m.user.display_name, "Mason",
        "global name when there is no nick"
    );
    assert_eq!(m.user.groups.len(), 2);
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].name, "slow.sql");
    assert!(
        matches!(&m.attachments[0].body, AttachmentBody::Remote { url, size: Some(_) } if url.starts_with("https://cdn.discordapp.com/"))
    );
}

#[test]
fn follow_up_in_a_thread_without_mention_is_a_candidate() {
    let msg = message("message_create_followup.json");
    let MessageRoute::InThread(m) = route_message(&msg, &facts(true)) else {
        panic!("expected a follow-up candidate");
    };
    assert!(!m.mentioned);
    assert_eq!(m.text, "actually it's staging");
    assert_eq!(m.thread, "1250000000000000001");
    // The same message outside a thread is not for the bot.
    assert!(matches!(
        route_message(&msg, &facts(false)),
        MessageRoute::Ignore(_)
    ));
}

#[test]
fn direct_messages_and_bots() {
    let dm = message("message_create_dm.json");
    let MessageRoute::Direct(m) = route_message(&dm, &facts(false)) else {
        panic!("DMs are answered");
    };
    assert_eq!(m.workspace, DM_WORKSPACE);
    assert_eq!(m.thread, "1270000000000000001");
    assert_eq!(m.text, "what does SQLSTATE 40P01 mean");

    let bot = message("message_create_bot.json");
    assert!(matches!(
        route_message(&bot, &facts(false)),
        MessageRoute::Ignore("bot author")
    ));
    let allow = MessageFacts {
        allow_bots: true,
        ..facts(false)
    };
    let MessageRoute::StartThread(m) = route_message(&bot, &allow) else {
        panic!("bots allowed by configuration");
    };
    assert_eq!(m.text, "status orders-prod");

    // The bot's own messages are never answered.
    let own = MessageFacts {
        bot_id: 1300000000000000001,
        allow_bots: true,
        ..facts(false)
    };
    assert!(matches!(
        route_message(&bot, &own),
        MessageRoute::Ignore("own message")
    ));
}

#[test]
fn strip_mention_variants() {
    assert_eq!(strip_mention("<@42> help", 42), "help");
    assert_eq!(
        strip_mention("<@!42>: report health demo", 42),
        "report health demo"
    );
    assert_eq!(strip_mention("please <@42> help", 42), "please help");
    assert_eq!(strip_mention("<@42>", 42), "");
    assert_eq!(strip_mention("<@43> hi", 42), "<@43> hi");
}

/// Parses `name` directly and after a round trip through serenity's `Interaction` model (the
/// gateway path), and checks both give the same result.
fn both_ways(name: &str) -> Incoming {
    let raw = fixture(name);
    let direct = parse_interaction(&raw).expect("parse");
    let model: Interaction = serde_json::from_value(raw).expect("serenity parses the interaction");
    let via_model =
        parse_interaction(&interaction_json(&model).expect("re-encode")).expect("parse");
    match (&direct, &via_model) {
        (Incoming::Component(a), Incoming::Component(b)) => {
            assert_eq!(a.message, b.message);
            assert_eq!(a.custom_id, b.custom_id);
            assert_eq!(a.message_id, b.message_id);
        }
        _ => assert_eq!(direct, via_model),
    }
    direct
}

#[test]
fn chat_input_command_with_subcommand_options() {
    let Incoming::Command(c) = both_ways("interaction_command.json") else {
        panic!("expected a command");
    };
    assert_eq!(c.subcommand, "report");
    assert_eq!(c.message.text, "report health demo");
    assert_eq!(c.meta.id, "786008729715212338");
    assert_eq!(
        c.meta.token,
        "aW50ZXJhY3Rpb246Nzg2MDA4NzI5NzE1MjEyMzM4OnRva2Vu"
    );
    assert_eq!(c.meta.attachment_size_limit, Some(10485760));
    let key = c.message.thread_key();
    assert_eq!(
        key.to_string(),
        "discord/290926798626357999/645027906669510667/645027906669510667:53908232506183680"
    );
    assert_eq!(c.message.user.id, "53908232506183680");
    assert_eq!(c.message.user.display_name, "Mason (payments)");
    assert_eq!(c.message.user.groups, ["539082325061836999"]);
    assert!(c.message.mentioned);
    assert!(c.message.choice.is_none());
}

#[test]
fn command_in_a_dm() {
    let Incoming::Command(c) = both_ways("interaction_command_dm.json") else {
        panic!("expected a command");
    };
    assert_eq!(
        c.message.text,
        "explain SELECT * FROM events WHERE customer_id = 5"
    );
    assert_eq!(c.message.workspace, DM_WORKSPACE);
    assert_eq!(c.message.thread, "1270000000000000001");
    assert_eq!(c.message.user.display_name, "Mason");
}

#[test]
fn button_and_select_clicks_become_choices() {
    let Incoming::Component(b) = both_ways("interaction_button.json") else {
        panic!("expected a click");
    };
    assert_eq!(
        b.message.choice,
        Some(SelectedChoice {
            choice_id: "target".into(),
            value: "orders-prod".into()
        })
    );
    assert_eq!(b.message.text, "orders-prod");
    assert_eq!(
        b.message.thread_key().to_string(),
        "discord/290926798626357999/1250000000000000001/1250000000000000001"
    );
    assert_eq!(b.message.user.id, "53908232506183680");
    assert_eq!(b.message_id.as_deref(), Some("1240000000000000040"));

    let updated = components_showing_choice(&b.message_components, &b.custom_id, "orders-prod");
    let buttons = &updated[0]["components"];
    assert_eq!(buttons[0]["style"], 3);
    assert_eq!(buttons[0]["label"], "✓ orders-prod");
    assert_eq!(buttons[0]["disabled"], true);
    assert_eq!(buttons[1]["style"], 1);
    assert_eq!(buttons[1]["disabled"], true);

    let Incoming::Component(s) = both_ways("interaction_select.json") else {
        panic!("expected a click");
    };
    assert_eq!(
        s.message.choice,
        Some(SelectedChoice {
            choice_id: "target".into(),
            value: "orders-staging".into()
        })
    );
    let updated = components_showing_choice(&s.message_components, &s.custom_id, "orders-staging");
    let select = &updated[0]["components"][0];
    assert_eq!(select["disabled"], true);
    assert_eq!(select["placeholder"], "✓ orders-staging");
    assert_eq!(select["options"][1]["default"], true);
    assert_eq!(select["options"][0]["default"], false);
}

#[test]
fn autocomplete_and_ping() {
    let Incoming::Autocomplete(q) = both_ways("interaction_autocomplete.json") else {
        panic!("expected autocomplete");
    };
    assert_eq!(
        (q.subcommand.as_str(), q.option.as_str(), q.partial.as_str()),
        ("status", "target", "ord")
    );
    assert_eq!(
        parse_interaction(&fixture("interaction_ping.json")).expect("ping"),
        Incoming::Ping
    );
}

#[test]
fn the_minimal_example_from_discords_docs_parses_too() {
    // "Receiving and Responding", interaction object example (older, fewer fields).
    let doc = serde_json::json!({
        "type": 2,
        "token": "A_UNIQUE_TOKEN",
        "member": {
            "user": {"id": "53908232506183680", "username": "Mason", "avatar": "a_d5efa99b3eeaa7dd43acca82f5692432", "discriminator": "1337", "public_flags": 131141},
            "roles": ["539082325061836999"], "premium_since": null, "permissions": "2147483647",
            "pending": false, "nick": null, "mute": false, "joined_at": "2017-03-13T19:19:14.040000+00:00",
            "is_pending": false, "deaf": false
        },
        "id": "786008729715212338",
        "guild_id": "290926798626357999",
        "app_permissions": "442368",
        "guild_locale": "en-US",
        "locale": "en-US",
        "data": {"options": [{"type": 1, "name": "status", "options": [{"type": 3, "name": "target", "value": "orders-prod"}]}], "type": 1, "name": "dba", "id": "771825006014889984"},
        "channel_id": "645027906669510667"
    });
    let Incoming::Command(c) = parse_interaction(&doc).expect("parse") else {
        panic!("expected a command");
    };
    assert_eq!(c.message.text, "status orders-prod");
    assert_eq!(c.message.user.display_name, "Mason");
}

#[test]
fn every_subcommand_maps_to_the_engines_words() {
    let opt = |name: &str, v: &str| CommandOption {
        name: name.into(),
        kind: 3,
        value: Some(Value::String(v.into())),
        options: vec![],
        focused: false,
    };
    assert_eq!(command_text("help", &[]).as_deref(), Some("help"));
    assert_eq!(command_text("targets", &[]).as_deref(), Some("targets"));
    assert_eq!(command_text("forget", &[]).as_deref(), Some("forget"));
    assert_eq!(
        command_text("report", &[opt("name", "locks")]).as_deref(),
        Some("report locks")
    );
    assert_eq!(command_text("status", &[]).as_deref(), Some("status"));
    assert_eq!(
        command_text("status", &[opt("target", " demo ")]).as_deref(),
        Some("status demo")
    );
    assert_eq!(
        command_text("ask", &[opt("question", "why is it slow")]).as_deref(),
        Some("ask why is it slow")
    );
    assert_eq!(
        command_text("escalate", &[opt("note", "p1")]).as_deref(),
        Some("escalate p1")
    );
    assert_eq!(command_text("escalate", &[]).as_deref(), Some("escalate"));
    assert_eq!(command_text("nope", &[]), None);
}

#[test]
fn custom_ids_round_trip() {
    let id = button_custom_id("target", "orders:prod").expect("fits");
    assert_eq!(
        parse_custom_id(&id, &[]),
        Some(SelectedChoice {
            choice_id: "target".into(),
            value: "orders:prod".into()
        })
    );
    let id = button_custom_id("a:b%c", "v").expect("fits");
    assert_eq!(
        parse_custom_id(&id, &[]).map(|c| c.choice_id),
        Some("a:b%c".into())
    );
    let sid = select_custom_id("intent").expect("fits");
    assert_eq!(
        parse_custom_id(&sid, &["locks_blocking".into()]),
        Some(SelectedChoice {
            choice_id: "intent".into(),
            value: "locks_blocking".into()
        })
    );
    assert_eq!(parse_custom_id(&sid, &[]), None);
    assert_eq!(parse_custom_id("other:b:x:y", &[]), None);
    assert!(button_custom_id("target", &"x".repeat(100)).is_none());
}

#[test]
fn slash_commands_keep_one_memory_per_user_and_channel() {
    let a = fixture("interaction_command.json");
    let mut b = a.clone();
    b["member"]["user"]["id"] = serde_json::json!("99990000000000001");
    let key = |v: &serde_json::Value| match parse_interaction(v) {
        Ok(Incoming::Command(c)) => c.message.thread_key().to_string(),
        other => panic!("expected a command: {other:?}"),
    };
    assert_ne!(key(&a), key(&b), "two users in one channel share a memory");
    assert_eq!(key(&a), key(&a.clone()));
    // Inside a thread the thread's conversation is shared, as with mentions there.
    let mut ta = a.clone();
    ta["channel"]["type"] = serde_json::json!(11);
    let mut tb = b.clone();
    tb["channel"]["type"] = serde_json::json!(11);
    assert_eq!(key(&ta), key(&tb));
}

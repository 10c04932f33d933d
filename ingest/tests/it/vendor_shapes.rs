//! The request shapes of the vendors' references — Matomo's Tracking HTTP API (events
//! with `e_c`/`e_a`/`e_n`, goals with `idgoal`, content impressions and interactions
//! with `c_n`/`c_p`/`c_t`/`c_i`, `ca=1`) and Plausible's Events API (custom events,
//! `engagement` with `sd` and `e`) — written out here from those references, against
//! the real collector and broker: each becomes one event of its own kind, with its
//! name as sent kept beside the action the site's rules give it.

use std::time::Duration;

use luister_ingest::names::ActionRule;
use luister_schema::{Event, EventData};
use luister_testkit::{consume, Scratch};

use super::helpers::{assert_taken, start_ingest_with};

fn rule(
    category: Option<&str>,
    goal: Option<u32>,
    prefix: Option<&str>,
    action: &str,
) -> ActionRule {
    ActionRule {
        prefix: prefix.map(str::to_owned),
        pattern: None,
        matomo_category: category.map(str::to_owned),
        matomo_action: None,
        matomo_goal: goal,
        action: action.into(),
    }
}

#[tokio::test]
async fn names_goals_content_and_engagement_arrive_as_their_own_kinds() {
    let scratch = Scratch::new("ingest_vendor_shapes");
    let ingest = start_ingest_with(scratch.kafka(), |c| {
        c.sites[0].action_rules = vec![
            rule(Some("Formulier"), None, None, "contact:form"),
            rule(None, Some(2), None, "contact:appointment"),
            rule(None, None, Some("Formulier:"), "contact:form"),
        ];
    })
    .await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let page = "http%3A%2F%2Flocalhost%2Fwerk-en-inkomen%2Fbijzondere-bijstand";
    let common = format!("idsite=1&rec=1&url={page}&_id=0123456789abcdef&r=");
    let long_name = "x".repeat(700);
    let requests: Vec<(reqwest::Method, String, String)> = vec![
        // trackEvent('Formulier', 'Aanvraag gestart (stap 1/3)', 'Bijzondere bijstand'), sent by sendBeacon as a form body.
        (reqwest::Method::POST, "/matomo.php".into(),
         format!("{common}101&e_c=Formulier&e_a=Aanvraag%20gestart%20(stap%201%2F3)&e_n=Bijzondere%20bijstand&ca=1&send_image=0")),
        // trackGoal(2): a GET image request.
        (reqwest::Method::GET, format!("/matomo.php?{common}102&idgoal=2&revenue=0"), String::new()),
        // trackAllContentImpressions(): a bulk request.
        (reqwest::Method::POST, "/matomo.php".into(),
         format!(r#"{{"requests":["?{common}103&c_n=Energietoeslag&c_p=%2Fimg%2Fenergie.png&c_t=http%3A%2F%2Flocalhost%2Fenergietoeslag&ca=1"]}}"#)),
        // A click in the block: a content interaction.
        (reqwest::Method::GET, format!("/matomo.php?{common}104&c_i=click&c_n=Energietoeslag&c_p=%2Fimg%2Fenergie.png&c_t=http%3A%2F%2Flocalhost%2Fenergietoeslag&ca=1"), String::new()),
        // An event whose name is longer than Luister keeps: cut, not refused.
        (reqwest::Method::GET, format!("/matomo.php?{common}105&e_c=Lang&e_a={long_name}"), String::new()),
        // plausible('Formulier: stap 1/3', {props: {plek: 'kop'}}).
        (reqwest::Method::POST, "/api/event".into(),
         r#"{"n":"Formulier: stap 1/3","u":"http://localhost/werk-en-inkomen/bijzondere-bijstand","d":"localhost","r":null,"p":{"plek":"kop"}}"#.into()),
        // The engagement Plausible's script sends when the page is hidden.
        (reqwest::Method::POST, "/api/event".into(),
         r#"{"n":"engagement","u":"http://localhost/werk-en-inkomen/bijzondere-bijstand","d":"localhost","r":null,"sd":62,"e":18250,"v":27}"#.into()),
    ];
    for (method, path, body) in requests {
        let r = client
            .request(method, ingest.url(&path))
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            )
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_taken(r, &path).await;
    }
    let got = consume(&scratch.topic, 8, Duration::from_secs(12)).await;
    let mut data: Vec<EventData> = got
        .iter()
        .map(|m| Event::from_json(m.payload.as_bytes()).unwrap().data)
        .collect();
    data.sort_by_key(|d| format!("{d:?}"));
    let cut = format!("lang:{}", "x".repeat(500 - "Lang:".len()));
    let mut expected = vec![
        EventData::Action {
            name: "contact:form".into(),
            target: Some("Bijzondere bijstand".into()),
            label: Some("Formulier:Aanvraag gestart (stap 1/3)".into()),
        },
        EventData::Action {
            name: "contact:appointment".into(),
            target: None,
            label: Some("goal:2".into()),
        },
        EventData::Action {
            name: "contact:form".into(),
            target: None,
            label: Some("Formulier: stap 1/3".into()),
        },
        EventData::Action {
            label: Some(format!("Lang:{}", "x".repeat(500 - "Lang:".len()))),
            name: cut,
            target: None,
        },
        EventData::Content {
            name: "Energietoeslag".into(),
            piece: Some("/img/energie.png".into()),
            target: Some("http://localhost/energietoeslag".into()),
            interaction: None,
        },
        EventData::Content {
            name: "Energietoeslag".into(),
            piece: Some("/img/energie.png".into()),
            target: Some("http://localhost/energietoeslag".into()),
            interaction: Some("click".into()),
        },
        EventData::Engagement {
            engaged_ms: 18_250,
            scroll_depth: Some(62),
        },
    ];
    expected.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(data, expected, "each request once, as its own kind");
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

//! What the collector learns from a user agent before dropping it: whether it is a
//! bot, the device class and a coarse browser family. Nothing else is kept.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex};

use luister_schema::Device;

static BOTS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);
static PARSER: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);

/// The coarse facts about a user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// A crawler, monitor, script or other non-human client.
    pub bot: bool,
    /// Phone, tablet or desktop.
    pub device: Device,
    /// One of a fixed set of browser families, or `other`.
    pub browser: &'static str,
}

/// How many user agents [`classify`] remembers; the memory is emptied when full.
const REMEMBERED: usize = 4096;

/// Recent classifications by a keyed hash of the user agent (the string itself is not
/// kept). Visitors share a few thousand user agents a day, and parsing one costs more
/// than the rest of an event's checks together. The key is random per process, so no
/// one can pick a user agent that collides with another's on purpose.
struct Remembered {
    hasher: RandomState,
    agents: Mutex<HashMap<u64, Agent>>,
}

static REMEMBERED_AGENTS: LazyLock<Remembered> = LazyLock::new(|| Remembered {
    hasher: RandomState::new(),
    agents: Mutex::new(HashMap::with_capacity(REMEMBERED)),
});

/// Classifies a user agent (see [`parse`]), remembering recent ones.
pub fn classify(user_agent: &str) -> Agent {
    let memory = &*REMEMBERED_AGENTS;
    let key = memory.hasher.hash_one(user_agent);
    let agents = || memory.agents.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(agent) = agents().get(&key) {
        return agent.clone();
    }
    let agent = parse(user_agent);
    let mut remembered = agents();
    if remembered.len() >= REMEMBERED {
        remembered.clear();
    }
    remembered.insert(key, agent.clone());
    agent
}

/// Parses a user agent. An empty one is not taken for a bot (server-side trackers
/// may not forward it), but gets device `unknown`.
fn parse(user_agent: &str) -> Agent {
    if user_agent.trim().is_empty() {
        return Agent {
            bot: false,
            device: Device::Unknown,
            browser: "other",
        };
    }
    let parsed = PARSER.parse(user_agent);
    let category = parsed.as_ref().map(|p| p.category).unwrap_or("UNKNOWN");
    let name = parsed.as_ref().map(|p| p.name).unwrap_or("UNKNOWN");
    let bot = category == "crawler" || BOTS.is_bot(user_agent);
    let tablet = user_agent.contains("iPad")
        || user_agent.contains("Tablet")
        || (user_agent.contains("Android") && !user_agent.contains("Mobile"));
    let device = if tablet {
        Device::Tablet
    } else {
        match category {
            "smartphone" | "mobilephone" => Device::Mobile,
            "pc" => Device::Desktop,
            _ => Device::Unknown,
        }
    };
    Agent {
        bot,
        device,
        browser: browser_family(name, user_agent),
    }
}

fn browser_family(name: &str, ua: &str) -> &'static str {
    if ua.contains("SamsungBrowser") {
        return "Samsung Internet";
    }
    match name {
        "Chrome" => "Chrome",
        "Firefox" => "Firefox",
        "Safari" | "Webview" if ua.contains("Safari") || ua.contains("AppleWebKit") => "Safari",
        "Edge" => "Edge",
        "Opera" => "Opera",
        "Internet Explorer" => "Internet Explorer",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_devices_and_bots_are_told_apart() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", false, Device::Desktop, "Chrome"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", false, Device::Desktop, "Firefox"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", false, Device::Mobile, "Safari"),
            ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", false, Device::Tablet, "Safari"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", false, Device::Mobile, "Samsung Internet"),
            ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", false, Device::Tablet, "Chrome"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", false, Device::Desktop, "Edge"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true, Device::Unknown, "other"),
            ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true, Device::Unknown, "other"),
            ("curl/8.5.0", true, Device::Unknown, "other"),
            ("python-requests/2.32.3", true, Device::Unknown, "other"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", true, Device::Desktop, "other"),
        ];
        for (ua, bot, device, browser) in cases {
            let a = classify(ua);
            assert_eq!(classify(ua), a, "remembered as parsed: {ua}");
            assert_eq!(parse(ua), a, "{ua}");
            assert_eq!(a.bot, bot, "bot? {ua}");
            if !bot {
                assert_eq!(a.device, device, "device of {ua}");
                assert_eq!(a.browser, browser, "browser of {ua}");
            }
        }
    }

    #[test]
    fn the_memory_stays_bounded() {
        for i in 0..REMEMBERED + 10 {
            let a = classify(&format!(
                "Mozilla/5.0 (X11; Linux x86_64; rv:{i}.0) Gecko/20100101 Firefox/{i}.0"
            ));
            assert_eq!(a.browser, "Firefox");
        }
        assert!(REMEMBERED_AGENTS.agents.lock().unwrap().len() <= REMEMBERED);
    }
}

//! `luister-api [--config FILE]`: the read API.
//! `luister-api new-token`: prints a new random token and the hash to configure.
//! `luister-api hash-token`: reads a token on stdin and prints its hash.
//! `luister-api --config FILE check-config`: loads and checks the configuration, then exits.
//! `luister-api openapi`: prints the OpenAPI document (as served at `/openapi.json`).

use std::io::Read;

use luister_api::config::ApiConfig;
use luister_service::config::{check_config, load_checked, start, Args};

const USAGE: &str = "usage: luister-api [--config FILE]                (serve the read API)
       luister-api [--config FILE] check-config   (check the configuration)
       luister-api new-token                      (a new token and the hash to configure)
       luister-api hash-token < TOKEN             (the hash of a token)
       luister-api openapi                        (the OpenAPI document)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = Args::parse_or_usage(std::env::args().skip(1), USAGE)? else {
        return Ok(());
    };
    match args.rest.first().map(String::as_str) {
        None => {}
        Some("new-token") => {
            let (token, hash) = luister_api::auth::new_token()?;
            println!("token:  {token}\nsha256: {hash}");
            println!("Give the token to its user; put only the sha256 in api.toml.");
            return Ok(());
        }
        Some("check-config") => return Ok(check_config::<ApiConfig>(&args)?),
        Some("openapi") => {
            println!("{}", luister_api::routes::openapi_json());
            return Ok(());
        }
        Some("hash-token") => {
            let mut token = String::new();
            std::io::stdin().read_to_string(&mut token)?;
            println!("{}", luister_api::auth::token_hash(token.trim()));
            return Ok(());
        }
        Some(extra) => anyhow::bail!("unknown argument {extra:?}\n{USAGE}"),
    }
    let config: ApiConfig = load_checked(args.config.as_deref())?;
    let listener = start("luister-api", &config).await?;
    luister_api::serve(config, listener, luister_service::shutdown_signal()).await
}

//! The public lot page over real HTTP: GS1 Digital Links and short links, HTML in
//! Chinese or English and JSON, recalls (own and inherited), failed tests, unknown and
//! malformed codes, escaping, the security and cache headers, rate limiting; the pages
//! as a real headless Chromium renders them (screenshots kept); QR codes read back by a
//! real decoder.

use chrono::{DateTime, FixedOffset};
use district_synth::{origin, quick_test, recall, receive, ship, transform};
use foodtrace_tests::{TestNode, authority, epoch, party};
use ledger_core::EventHash;
use ledger_core::model::{PartyRole, Stage, TransformKind};
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;
use query_api::public::{CONTENT_SECURITY_POLICY, PublicLot};
use tonic::transport::Channel;

async fn ok(client: &mut LedgerClient<Channel>, signed: (pb::SignedEvent, EventHash)) -> EventHash {
    foodtrace_tests::admitted(client, signed).await.0
}

fn at(minutes_ago: i64) -> DateTime<FixedOffset> {
    foodtrace_tests::fixed_time(minutes_ago)
}

const CABBAGE: &str = "01/09506000134352/10/CAB01";
const LINK: &str = "/01/09506000134352/10/CAB01";

/// A GS1 cabbage lot sold at a supermarket; a lot whose name holds HTML; a lot that
/// failed its quick test and was recalled, and a meal cooked from it.
async fn start() -> (TestNode, reqwest::Client) {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let authority = authority();
    let farm = party(1, PartyRole::Producer);
    let market = party(2, PartyRole::WholesaleMarket);
    let shop = party(4, PartyRole::Retailer);
    let kitchen = party(6, PartyRole::CentralKitchen);
    for (member, name) in [
        (&farm, "浑南绿源蔬菜合作社"),
        (&market, "浑南农产品批发市场"),
        (&shop, "浑南生鲜超市"),
        (&kitchen, "浑南中央厨房"),
    ] {
        ok(
            &mut client,
            authority.register(epoch(), member, name, district_synth::HUNNAN),
        )
        .await;
    }
    let o = ok(
        &mut client,
        farm.sign(
            at(600),
            origin(
                CABBAGE,
                "大白菜",
                "vegetable",
                "100",
                "kg",
                "2026-11-27",
                "HG-001",
            ),
        ),
    )
    .await;
    let s = ok(
        &mut client,
        farm.sign(at(590), ship(CABBAGE, "100", "kg", market.id(), "SD-1", o)),
    )
    .await;
    let r = ok(
        &mut client,
        market.sign(
            at(580),
            receive(Stage::MarketEntry, CABBAGE, "100", "kg", s, Some("HG-001")),
        ),
    )
    .await;
    ok(&mut client, market.sign(at(575), quick_test(CABBAGE, true))).await;
    let s = ok(
        &mut client,
        market.sign(at(570), ship(CABBAGE, "20", "kg", shop.id(), "SD-2", r)),
    )
    .await;
    ok(
        &mut client,
        shop.sign(
            at(565),
            receive(Stage::Retail, CABBAGE, "20", "kg", s, None),
        ),
    )
    .await;

    ok(
        &mut client,
        farm.sign(
            at(500),
            origin(
                "XSS-1",
                "<script>alert(1)</script>",
                "vegetable",
                "5",
                "kg",
                "2026-11-27",
                "HG-<b>2</b>",
            ),
        ),
    )
    .await;

    let o = ok(
        &mut client,
        farm.sign(
            at(400),
            origin(
                "SPIN-9",
                "菠菜",
                "vegetable",
                "50",
                "kg",
                "2026-11-27",
                "HG-009",
            ),
        ),
    )
    .await;
    let s = ok(
        &mut client,
        farm.sign(at(390), ship("SPIN-9", "50", "kg", kitchen.id(), "SD-9", o)),
    )
    .await;
    let r = ok(
        &mut client,
        kitchen.sign(
            at(380),
            receive(Stage::Warehouse, "SPIN-9", "50", "kg", s, None),
        ),
    )
    .await;
    ok(
        &mut client,
        kitchen.sign(at(375), quick_test("SPIN-9", false)),
    )
    .await;
    ok(
        &mut client,
        kitchen.sign(
            at(370),
            transform(
                TransformKind::Process,
                &[("SPIN-9", "10", r)],
                "kg",
                ("MEAL-7", "菠菜炒蛋", "meal", "10"),
            ),
        ),
    )
    .await;
    ok(
        &mut client,
        authority.sign(at(300), recall("SPIN-9", "农药残留超标")),
    )
    .await;
    // A lot that failed a quick test at the market, not (yet) recalled.
    let o = ok(
        &mut client,
        farm.sign(
            at(290),
            origin(
                "CUKE-3",
                "黄瓜",
                "vegetable",
                "30",
                "kg",
                "2026-11-27",
                "HG-003",
            ),
        ),
    )
    .await;
    let s = ok(
        &mut client,
        farm.sign(at(280), ship("CUKE-3", "30", "kg", market.id(), "SD-3", o)),
    )
    .await;
    ok(
        &mut client,
        market.sign(
            at(270),
            receive(Stage::MarketEntry, "CUKE-3", "30", "kg", s, Some("HG-003")),
        ),
    )
    .await;
    ok(
        &mut client,
        market.sign(at(265), quick_test("CUKE-3", false)),
    )
    .await;
    (node, reqwest::Client::new())
}

async fn page(
    http: &reqwest::Client,
    url: &str,
    language: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = http
        .get(url)
        .header("accept", "text/html")
        .header("accept-language", language)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_code_opens_the_lots_page_in_chinese_with_safe_headers() {
    let (node, http) = start().await;
    let url = format!("{}{LINK}", node.http_base());
    let (status, headers, html) = page(&http, &url, "zh-CN,zh;q=0.9").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "public, max-age=30");
    for text in [
        "大白菜",
        "浑南绿源蔬菜合作社",
        "辽宁省沈阳市浑南区",
        "HG-001",
        "市场准入",
        "零售",
        "最近快检",
        "合格",
        "已验证",
        "/v1/proofs/inclusion?sequence=",
    ] {
        assert!(html.contains(text), "the page shows {text}");
    }
    assert!(!html.contains("召回"), "nothing recalled");
    assert!(
        !html.contains("024-2378"),
        "no contact details on a public page"
    );
    assert!(!html.contains("<script"), "no script at all");

    // The client's copy is current: 304.
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let response = http
        .get(&url)
        .header("accept", "text/html")
        .header("accept-language", "zh-CN")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);

    // A serial number and an expiry date in the link name the same lot.
    let (status, _, serial) = page(&http, &format!("{url}/21/PACK-17?17=261231"), "zh-CN").await;
    assert_eq!(status, 200);
    assert!(serial.contains("大白菜"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_by_accept_language_or_switch_and_json_by_accept() {
    let (node, http) = start().await;
    let url = format!("{}{LINK}", node.http_base());
    let (_, _, html) = page(&http, &url, "en-GB,en;q=0.8").await;
    assert!(
        html.contains("Latest quick test") && html.contains("Hunnan District, Shenyang, Liaoning")
    );
    assert!(html.contains("?lang=zh"), "a switch back to Chinese");
    let (_, _, html) = page(&http, &format!("{url}?lang=en"), "zh-CN").await;
    assert!(html.contains("Verified"));

    let lot = node.public_lot(LINK).await;
    assert_eq!(lot.lot_id, CABBAGE);
    assert_eq!(lot.product_name, "大白菜");
    assert_eq!(lot.origins[0].producer, "浑南绿源蔬菜合作社");
    let stages: Vec<&str> = lot.chain.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["origin", "market_entry", "retail"]);
    assert_eq!(lot.latest_quick_test.as_ref().unwrap().result, "pass");
    assert!(lot.recalls.is_empty() && !lot.any_failed_test);
    assert!(lot.verified.signatures_checked);
    let json = http
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!json.contains("024-2378") && !json.contains("contact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalls_show_on_the_lot_and_downstream_and_failed_tests_show() {
    let (node, http) = start().await;
    let (status, _, spinach) =
        page(&http, &format!("{}/l/SPIN-9", node.http_base()), "zh-CN").await;
    assert_eq!(status, 200);
    assert!(spinach.contains("本批次已被召回") && spinach.contains("农药残留超标"));
    assert!(spinach.contains("不合格"), "the failed quick test");
    let (_, _, meal) = page(&http, &format!("{}/l/MEAL-7", node.http_base()), "zh-CN").await;
    assert!(
        meal.contains("本批次的原料已被召回"),
        "inherited from the spinach"
    );
    assert!(meal.contains("SPIN-9"));
    let (_, _, meal) = page(
        &http,
        &format!("{}/l/MEAL-7?lang=en", node.http_base()),
        "zh-CN",
    )
    .await;
    assert!(meal.contains("An ingredient of this lot has been recalled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_codes_get_friendly_pages_and_html_is_escaped() {
    let (node, http) = start().await;
    let base = node.http_base();
    let (status, headers, html) = page(&http, &format!("{base}/l/NOPE-1"), "zh-CN").await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert!(html.contains("未找到该批次"));
    let (status, _, html) = page(&http, &format!("{base}/01/09506000134353/10/CAB01"), "en").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("This code is not valid") && html.contains("check digit"),
        "{html}"
    );
    let (status, _, html) = page(&http, &format!("{base}/01/09506000134352"), "zh-CN").await;
    assert_eq!(status, 400);
    assert!(html.contains("追溯码有误"));
    let problem: serde_json::Value = http
        .get(format!("{base}/01/123/10/A"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(problem["status"], 400);

    let (status, _, html) = page(&http, &format!("{base}/l/XSS-1"), "zh-CN").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown as text"
    );
    assert!(html.contains("HG-&lt;b&gt;2&lt;/b&gt;"));
    assert!(!html.contains("<script>") && !html.contains("<b>2"));

    let css = http
        .get(format!("{base}/static/page.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

/// `foodtrace qr` writes a code a real decoder (zbarimg, from Debian's zbar-tools) reads
/// back as the URL of the right page (a PNG, the name under the code not in the way),
/// and an SVG with the product name, escaped, under the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_qr_code_decodes_to_the_lots_page() {
    let (node, http) = start().await;
    let dir = tempfile::tempdir().unwrap();
    // Kept with the page screenshots, to look at.
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-pages");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("qr-cabbage.png");
    // PNG, by the output's extension.
    let (code, said) = foodtrace_tests::foodtrace(&[
        "qr",
        CABBAGE,
        "--base-url",
        &node.http_base(),
        "--output",
        png.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert!(
        said.starts_with(&format!("{}{LINK}\n", node.http_base())),
        "{said}"
    );
    let decoded = std::process::Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&png)
        .output()
        .expect("zbarimg (apt-get install zbar-tools)");
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let url = String::from_utf8(decoded.stdout).unwrap().trim().to_owned();
    assert_eq!(url, format!("{}{LINK}", node.http_base()));
    let (status, _, html) = page(&http, &url, "zh-CN").await;
    assert_eq!(status, 200);
    assert!(html.contains("大白菜") && html.contains("浑南绿源蔬菜合作社"));

    let svg = dir.path().join("xss.svg");
    let (_, said) = foodtrace_tests::foodtrace(&[
        "qr",
        "XSS-1",
        "--base-url",
        &node.http_base(),
        "--output",
        svg.to_str().unwrap(),
    ])
    .await;
    assert!(
        said.starts_with(&format!("{}/l/XSS-1\n", node.http_base())),
        "{said}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the product name, escaped"
    );
    assert!(!svg.contains("<script"));
}

/// Each client address gets its own bucket on the anonymous routes: past its burst it is
/// refused with 429 and `Retry-After` (a page, or a problem document for JSON and the
/// `/v1/` routes), while another address, `/healthz` and inspectors carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_are_limited_per_client_address() {
    // One a second after a burst of four: the test's requests come faster than that.
    let limit = query_api::limit::RateLimit {
        per_second: std::num::NonZeroU32::new(1).unwrap(),
        burst: std::num::NonZeroU32::new(4).unwrap(),
    };
    let node = TestNode::start_rate_limited(limit).await;
    let base = node.http_base();
    let http = reqwest::Client::new();
    for _ in 0..4 {
        let (status, _, _) = page(&http, &format!("{base}/l/NOPE-1"), "zh-CN").await;
        assert_eq!(status, 404, "within the burst");
    }
    let (status, headers, html) = page(&http, &format!("{base}/l/NOPE-1"), "zh-CN").await;
    assert_eq!(status, 429);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1, "a token a second");
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert!(html.contains("请求过于频繁"), "{html}");
    let (status, _, html) = page(&http, &format!("{base}/l/NOPE-1?lang=en"), "zh-CN").await;
    assert_eq!(status, 429);
    assert!(html.contains("Too many requests"), "{html}");

    let response = http.get(format!("{base}/v1/status")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 429);

    // Not limited: health checks, and inspectors (who need a token, and get a 401
    // without one rather than a 429).
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let lots = http.get(format!("{base}/v1/lots")).send().await.unwrap();
    assert_eq!(lots.status(), 401);

    // Another address on the loopback network has its own bucket.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let (status, _, _) = page(&other, &format!("{base}/l/NOPE-1"), "zh-CN").await;
    assert_eq!(status, 404, "a different client is not held back");
}

/// The pages as a phone's browser shows them: a real headless Chromium (Debian's
/// `chromium`; `FOODTRACE_CHROMIUM` names another) at a phone's width, Chinese by
/// default. Asserts the visible text, that the stylesheet applies (the recall notice is
/// red: the CSP lets the page's own stylesheet in), that nothing overflows sideways,
/// that no script exists or runs, and that the language switch works when clicked.
/// Screenshots go to `$CARGO_TARGET_TMPDIR/public-pages/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_in_a_real_browser() {
    let (node, _) = start().await;
    let base = node.http_base();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-pages");
    std::fs::create_dir_all(&shots).unwrap();
    tokio::task::spawn_blocking(move || browse(&base, &shots))
        .await
        .unwrap();
}

/// What a page showed.
struct Shown {
    text: String,
    title: String,
}

fn browse(base: &str, shots: &std::path::Path) {
    use headless_chrome::{Browser, LaunchOptions};
    let chromium = std::env::var_os("FOODTRACE_CHROMIUM").unwrap_or_else(|| "chromium".into());
    let path = which(&chromium).unwrap_or_else(|| {
        panic!("{chromium:?} not found: apt-get install chromium (or set FOODTRACE_CHROMIUM)")
    });
    let args = [std::ffi::OsStr::new("--accept-lang=zh-CN,zh")];
    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(path))
            // Tests may run as root (CI containers), where Chromium's sandbox cannot start.
            .sandbox(false)
            .window_size(Some((412, 915)))
            .args(args.to_vec())
            .build()
            .unwrap(),
    )
    .expect("start chromium");
    let tab = browser.new_tab().unwrap();
    let visit = |path: &str, shot: &str| -> Shown {
        tab.navigate_to(&format!("{base}{path}"))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        screenshot(&tab, &shots.join(format!("{shot}.png")));
        Shown {
            text: eval(&tab, "document.body.innerText"),
            title: eval(&tab, "document.title"),
        }
    };
    let no_sideways_scroll = |page: &str| {
        assert_eq!(
            eval(
                &tab,
                "String(document.documentElement.scrollWidth <= window.innerWidth)"
            ),
            "true",
            "{page} fits a phone's width"
        );
    };

    let normal = visit(LINK, "normal");
    for text in [
        "大白菜",
        "浑南绿源蔬菜合作社",
        "辽宁省沈阳市浑南区",
        "承诺达标合格证",
        "HG-001",
        "市场准入",
        "零售",
        "合格",
        "已验证",
    ] {
        assert!(
            normal.text.contains(text),
            "normal lot shows {text}: {}",
            normal.text
        );
    }
    assert!(!normal.text.contains("召回") && !normal.text.contains("不合格"));
    assert_eq!(normal.title, "大白菜 · 食品追溯");
    assert_eq!(eval(&tab, "document.documentElement.lang"), "zh-CN");
    no_sideways_scroll("the normal lot");
    // The stylesheet applied (a card's white background); it and the icon are all the
    // page loads.
    assert_eq!(
        eval(
            &tab,
            "getComputedStyle(document.querySelector('section')).backgroundColor"
        ),
        "rgb(255, 255, 255)"
    );
    assert_eq!(
        eval(
            &tab,
            "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname).join(' ')"
        ),
        "/static/page.css /static/icon.svg"
    );

    assert!(
        normal.text.contains("已纳入签名检查点（日志前 "),
        "{}",
        normal.text
    );

    // The language switch, clicked.
    tab.find_element("p.switch a").unwrap().click().unwrap();
    // The click starts a navigation that `wait_until_navigated` may miss: wait for the
    // English page itself.
    tab.wait_for_element("html[lang='en'] main").unwrap();
    let english = eval(&tab, "document.body.innerText");
    assert!(
        english.contains("Along the chain") && english.contains("market entry"),
        "{english}"
    );
    screenshot(&tab, &shots.join("normal-en.png"));

    // The proof link opens a proof bundle.
    tab.find_element(".verified a").unwrap().click().unwrap();
    // Chromium shows a JSON document as text in a <pre>.
    tab.wait_for_element("body > pre").unwrap();
    let bundle: serde_json::Value =
        serde_json::from_str(&eval(&tab, "document.body.innerText")).unwrap();
    assert_eq!(bundle["format"], "foodtrace-proof-bundle-v1");
    assert!(
        bundle["checkpoint"].is_string() && bundle["inclusion"].is_array(),
        "{bundle}"
    );

    let recalled = visit("/l/SPIN-9", "recalled");
    assert!(
        recalled.text.contains("本批次已被召回"),
        "{}",
        recalled.text
    );
    assert!(recalled.text.contains("农药残留超标"));
    assert_eq!(
        eval(
            &tab,
            "getComputedStyle(document.querySelector('.recall')).backgroundColor"
        ),
        "rgb(176, 0, 32)",
        "the recall notice is red"
    );
    assert_eq!(
        eval(
            &tab,
            "String(document.querySelector('.recall').getBoundingClientRect().top < 100)"
        ),
        "true",
        "the recall notice is at the top of the page"
    );
    no_sideways_scroll("the recalled lot");

    let downstream = visit("/l/MEAL-7", "downstream-of-recalled");
    assert!(
        downstream.text.contains("本批次的原料已被召回"),
        "{}",
        downstream.text
    );
    assert!(
        downstream.text.contains("被召回的原料批次: SPIN-9"),
        "{}",
        downstream.text
    );
    assert!(downstream.text.contains("菠菜炒蛋"));

    let failed = visit("/l/CUKE-3", "failed-quick-test");
    assert!(
        failed.text.contains("最近一次检测不合格"),
        "{}",
        failed.text
    );
    assert!(failed.text.contains("不合格") && !failed.text.contains("召回"));
    assert_eq!(
        eval(
            &tab,
            "getComputedStyle(document.querySelector('.fail')).color"
        ),
        "rgb(176, 0, 32)"
    );

    let unknown = visit("/l/NOPE-1", "unknown");
    assert!(unknown.text.contains("未找到该批次"), "{}", unknown.text);
    assert!(unknown.text.contains("请核对包装上的批号"));

    let malformed = visit("/01/09506000134353/10/CAB01", "malformed-digital-link");
    assert!(malformed.text.contains("追溯码有误"), "{}", malformed.text);
    assert!(malformed.text.contains("check digit"), "{}", malformed.text);
    assert!(malformed.text.contains("请核对包装上的二维码"));

    let hostile = visit("/l/XSS-1", "html-in-the-name");
    assert_eq!(
        eval(&tab, "document.querySelector('h1').innerText"),
        "<script>alert(1)</script>",
        "the name shows as text"
    );
    assert_eq!(eval(&tab, "String(document.scripts.length)"), "0");
    assert!(hostile.text.contains("HG-<b>2</b>"));
    assert_eq!(
        eval(&tab, "String(document.querySelectorAll('dd *').length)"),
        "0",
        "the certificate's markup made no element"
    );

    for shot in [
        "normal",
        "normal-en",
        "recalled",
        "downstream-of-recalled",
        "failed-quick-test",
        "unknown",
        "malformed-digital-link",
        "html-in-the-name",
    ] {
        let png = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{shot}.png"
        );
    }
}

/// A page's whole length as a PNG.
fn screenshot(tab: &headless_chrome::Tab, to: &std::path::Path) {
    use headless_chrome::protocol::cdp::Page;
    let height: f64 = eval(tab, "String(document.documentElement.scrollHeight)")
        .parse()
        .unwrap();
    let width: f64 = eval(tab, "String(window.innerWidth)").parse().unwrap();
    let shot = tab
        .call_method(Page::CaptureScreenshot {
            format: Some(Page::CaptureScreenshotFormatOption::Png),
            quality: None,
            clip: Some(Page::Viewport {
                x: 0.0,
                y: 0.0,
                width,
                height,
                scale: 1.0,
            }),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: None,
        })
        .unwrap();
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.data)
        .unwrap();
    std::fs::write(to, png).unwrap();
}

/// Evaluates a JavaScript expression that yields a string.
fn eval(tab: &headless_chrome::Tab, expression: &str) -> String {
    let value = tab.evaluate(expression, false).unwrap().value;
    match value {
        Some(serde_json::Value::String(text)) => text,
        other => panic!("{expression} gave {other:?}"),
    }
}

/// The program's path, looked up in `PATH` if it is a bare name.
fn which(program: &std::ffi::OsStr) -> Option<std::path::PathBuf> {
    let program = std::path::Path::new(program);
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The lots `ledger-node --demo` prints show what it says they show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_lots_that_show_what_it_says() {
    let node = TestNode::start().await;
    // The demo's district, seed and all.
    let district = district_synth::generate(
        &authority(),
        &district_synth::Scale::district(),
        2026,
        at(0),
    );
    foodtrace_tests::admit_all(&node, district.events).await;
    let lot = |id: Option<String>| {
        let path = format!("/l/{}", id.expect("the demo has one"));
        let node = &node;
        async move { node.public_lot(&path).await }
    };
    let showcase = district.showcase;
    let on_sale = lot(showcase.on_sale).await;
    assert!(on_sale.recalls.is_empty() && !on_sale.any_failed_test);
    assert!(on_sale.chain.iter().any(|s| s.stage == "market_entry"));
    assert!(on_sale.chain.len() >= 3, "it went on from the market");
    let recalled = lot(showcase.recalled.clone()).await;
    assert!(recalled.recalls.iter().any(|r| r.this_lot));
    let meal = lot(showcase.meal_with_recalled_ingredient).await;
    assert_eq!(meal.product_name, "学生午餐 套餐");
    assert!(
        meal.recalls
            .iter()
            .any(|r| !r.this_lot && Some(&r.lot_id) == showcase.recalled.as_ref())
    );
    let failed = lot(showcase.failed_test).await;
    assert!(failed.any_failed_test && failed.recalls.is_empty());
    assert_eq!(failed.latest_quick_test.unwrap().result, "fail");
}

/// Pages are kept built, and a kept page is served only while it is exact: an event on
/// the lot itself or on any lot upstream of it shows on the next request (new ETag, no
/// 304 for the old one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_pages_change_as_soon_as_the_ledger_does() {
    let (node, http) = start().await;
    let mut client = node.ledger().await;
    let kitchen = party(6, PartyRole::CentralKitchen);
    let meal_url = format!("{}/l/MEAL-7", node.http_base());
    let json = |url: String| {
        let http = http.clone();
        async move {
            let response = http
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            (response.json::<PublicLot>().await.unwrap(), etag)
        }
    };
    let (before, etag) = json(meal_url.clone()).await;
    let (again, same) = json(meal_url.clone()).await;
    assert_eq!((&before, &etag), (&again, &same), "served twice, the same");
    assert_eq!(before.latest_quick_test.as_ref().unwrap().result, "fail");

    // A new, passing quick test of the spinach the meal was cooked from (upstream).
    ok(
        &mut client,
        kitchen.sign(at(100), quick_test("SPIN-9", true)),
    )
    .await;
    let (after, new_etag) = json(meal_url.clone()).await;
    assert_eq!(after.latest_quick_test.as_ref().unwrap().result, "pass");
    assert_ne!(etag, new_etag);
    let stale = http
        .get(&meal_url)
        .header("accept", "application/json")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200, "the old copy is not current");

    // A recall of the cabbage itself, after its page was kept.
    let cabbage = format!("{}{LINK}", node.http_base());
    let (page, _) = json(cabbage.clone()).await;
    assert!(page.recalls.is_empty());
    ok(
        &mut client,
        authority().sign(at(90), recall(CABBAGE, "抽检不合格")),
    )
    .await;
    let (page, _) = json(cabbage.clone()).await;
    assert_eq!(page.recalls.len(), 1);
    assert_eq!(page.recalls[0].reason, "抽检不合格");
}

/// A lot whose producer records nothing (a small farm selling at the market) enters the
/// ledger at the market's purchase inspection record, when it names its supplier and
/// the product; its page says so, and it can be traced on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_its_producer_did_not_record_enters_at_the_markets_receipt() {
    use ledger_core::model::{EventKind, ReceivedProduct, Receiving, ReceivingSource};
    let (node, http) = start().await;
    let mut client = node.ledger().await;
    let farm = party(1, PartyRole::Producer);
    let market = party(2, PartyRole::WholesaleMarket);
    let shop = party(4, PartyRole::Retailer);
    let receipt = |lot: &str, source: ReceivingSource, product: bool| {
        EventKind::Receiving(
            Stage::MarketEntry,
            Receiving {
                lot_id: district_synth::lot(lot),
                quantity: district_synth::quantity("30", "kg"),
                source,
                certificate_number: Some(district_synth::text("HG-小农-7")),
                documents_checked: vec![district_synth::text("手写送货单 17")],
                product: product.then(|| ReceivedProduct {
                    name: district_synth::text("小白菜"),
                    category: district_synth::text("食用农产品"),
                }),
            },
        )
    };
    // Without the product, an unknown lot is refused, and says what would do.
    let refused = client
        .submit(
            market
                .sign(
                    at(60),
                    receipt(
                        "SMALL-1",
                        ReceivingSource::Supplier(farm.id().clone()),
                        false,
                    ),
                )
                .0,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);
    assert!(
        refused.message().contains("name the product"),
        "{}",
        refused.message()
    );
    // Nor can a shipment nobody recorded bring a lot in.
    let refused = client
        .submit(
            market
                .sign(
                    at(60),
                    receipt(
                        "SMALL-1",
                        ReceivingSource::Shipment {
                            event: EventHash([7; 32]),
                            supplier: None,
                        },
                        true,
                    ),
                )
                .0,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);

    let entered = ok(
        &mut client,
        market.sign(
            at(60),
            receipt(
                "SMALL-1",
                ReceivingSource::Supplier(farm.id().clone()),
                true,
            ),
        ),
    )
    .await;
    // The market sells some on to a shop, which receives it.
    let s = ok(
        &mut client,
        market.sign(
            at(50),
            ship("SMALL-1", "10", "kg", shop.id(), "XS-1", entered),
        ),
    )
    .await;
    ok(
        &mut client,
        shop.sign(
            at(45),
            receive(Stage::Retail, "SMALL-1", "10", "kg", s, None),
        ),
    )
    .await;

    let lot = node.public_lot("/l/SMALL-1").await;
    assert_eq!(lot.product_name, "小白菜");
    assert_eq!(lot.made_by, None);
    assert_eq!(lot.entries.len(), 1);
    assert_eq!(lot.entries[0].supplier, "浑南绿源蔬菜合作社");
    assert_eq!(lot.entries[0].recorded_by, "浑南农产品批发市场");
    assert_eq!(lot.entries[0].certificate.as_deref(), Some("HG-小农-7"));
    let stages: Vec<&str> = lot.chain.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["market_entry", "retail"]);
    let (status, _, html) = page(&http, &format!("{}/l/SMALL-1", node.http_base()), "zh-CN").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("生产者未登记产地信息") && html.contains("供货者"),
        "{html}"
    );

    // Inspectors trace it down to the shop, and up to the market's receipt.
    let token = node.add_inspector("li");
    let trace: serde_json::Value = http
        .get(format!("{}/v1/lots/SMALL-1/trace/down", node.http_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parties = trace["parties"].to_string();
    assert!(
        parties.contains(shop.id().as_str()) && parties.contains(farm.id().as_str()),
        "{trace}"
    );
    let kinds: Vec<&str> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["entered", "shipped", "received"], "{trace}");
    let details: serde_json::Value = http
        .get(format!("{}/v1/lots/SMALL-1", node.http_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details["product_name"], "小白菜", "{details}");
    assert_eq!(
        details["created_by"]["party_id"],
        market.id().as_str(),
        "{details}"
    );

    // The inspector's picture draws where it came from: its supplier.
    let (_, dot) = foodtrace_tests::foodtrace(&[
        "trace",
        "down",
        "SMALL-1",
        "--format",
        "dot",
        "--api",
        &node.http_base(),
        "--token",
        &token,
    ])
    .await;
    assert!(
        dot.contains(&format!(
            "\"party:{}\" -> \"lot:SMALL-1\" [style=dotted, label=\"supplied\"]",
            farm.id()
        )),
        "{dot}"
    );

    // A receipt naming the product of a lot the ledger knows is just a receipt: the
    // cabbage's page still shows its farm's origin.
    ok(
        &mut client,
        market.sign(
            at(40),
            receipt(CABBAGE, ReceivingSource::Supplier(farm.id().clone()), true),
        ),
    )
    .await;
    let cabbage = node.public_lot(LINK).await;
    assert_eq!(cabbage.product_name, "大白菜");
    assert_eq!(cabbage.made_by.as_deref(), Some("浑南绿源蔬菜合作社"));
    assert!(cabbage.entries.is_empty());
}

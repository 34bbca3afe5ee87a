//! `lifecycle-2.0.md` §11: requests bound and signed as the server does (1–7), answers and
//! notices verified by §2.5's rule and rebuilt by the sandbox's own builders (8–16).

use super::super::answer::signed_result;
use super::super::notice::{pay_notice, refund_notice};
use super::super::wire::{Bound, Declared};
use super::super::{close, pay, query, refund};
use super::*;
use crate::order::{Amount, RefundOrderStatus, RefundStatus, SandboxRefund};
use crate::sign::daxpay::fields_of;

fn scheme(sign_type: SignType) -> Scheme {
    Scheme::new(Version::V2_0, sign_type)
}

/// Binds `wire` to `own`, checks the string to sign and both digests.
fn request_vector(own: Declared, wire: &str, string: &str, md5: &str, hmac: &str) {
    let bound = Bound::parse(own, wire.as_bytes()).expect("binds");
    let fields = bound.sign_fields();
    let s = scheme(SignType::Md5).string_to_sign(&fields, SECRET);
    assert_eq!(s, string);
    assert_eq!(scheme(SignType::Md5).sign(&fields, SECRET), md5);
    assert_eq!(scheme(SignType::HmacSha256).sign(&fields, SECRET), hmac);
}

#[test]
fn v1_pay_wechat_jsapi() {
    request_vector(
        pay::DECLARED,
        r#"{"bizOrderNo":"M20240701001","title":"测试商品","description":"desc","channel":"wechat_pay","method":"jsapi","amount":1,"expiredTime":1719822600,"extraParam":{"openId":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"attach":"a=1&b=2","notifyUrl":"https://pb.example/daxpay/callback/r1","returnUrl":"https://pb.example/jeepay/return/t1","clientIp":"127.0.0.1","nonceStr":"0123456789abcdef","reqTime":1719815400}"#,
        "amount=1&attach=a=1&b=2&bizOrderNo=M20240701001&channel=wechat_pay&clientIp=127.0.0.1&description=desc&expiredTime=1719822600&extraParam={openId:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o}&method=jsapi&nonceStr=0123456789abcdef&notifyUrl=https://pb.example/daxpay/callback/r1&reqTime=1719815400&returnUrl=https://pb.example/jeepay/return/t1&title=测试商品&key=dax_secret_Key123",
        "7c4d44b25a81187df38aef4d35cd3104",
        "88bc2aaa51d1857f51d8f8c16a5a19e99a9cdee61d7b28424164699951963774",
    );
}

#[test]
fn v2_pay_map_keys_sorted_case_insensitively() {
    request_vector(
        pay::DECLARED,
        r#"{"bizOrderNo":"M2","title":"T","channel":"ali_pay","method":"barcode","amount":100,"extraParam":{"authCode":"284910583729467102","Zeta":"z","alpha":"A"},"nonceStr":"0123456789abcdef","reqTime":1719815400}"#,
        "amount=100&bizOrderNo=M2&channel=ali_pay&extraParam={alpha:A,authCode:284910583729467102,Zeta:z}&method=barcode&nonceStr=0123456789abcdef&reqTime=1719815400&title=T&key=dax_secret_Key123",
        "f4b0c4c971857bed940dc426ea80b4b9",
        "4afd084571180bcd2fe3851bf2efd547ea2f652da5b08a9a7ecf36d55e21e072",
    );
}

#[test]
fn v3_extra_param_edge_cases() {
    request_vector(
        pay::DECLARED,
        r#"{"bizOrderNo":"M3","title":"T","channel":"wechat_pay","method":"jsapi","amount":1,"extraParam":{"z":{"b":2,"a":[1,"x",true]},"q":"he said \"hi\" \\ / </x> \n tab\t nbsp\u00a0 \u2028","n":null,"d":1.50,"big":12345678901},"reqTime":1719815400}"#,
        "amount=1&bizOrderNo=M3&channel=wechat_pay&extraParam={big:12345678901,d:1.5,q:he said hi  / </x> n tabt nbspu00a0 u2028,z:{b:2,a:[1,x,true]}}&method=jsapi&reqTime=1719815400&title=T&key=dax_secret_Key123",
        "1df27b75c9b5f67110b732d532ece8d9",
        "b0b0fec321225ac08192f7c5498f8c882a9629f73f090bc56b7808925f136eb3",
    );
}

#[test]
fn v4_empty_map_and_empty_string() {
    request_vector(
        pay::DECLARED,
        r#"{"bizOrderNo":"M4","title":"T","channel":"wechat_pay","method":"qrcode","amount":1,"extraParam":{},"description":"","reqTime":1719815400}"#,
        "amount=1&bizOrderNo=M4&channel=wechat_pay&description=&extraParam={}&method=qrcode&reqTime=1719815400&title=T&key=dax_secret_Key123",
        "a37569947bbafc19a7332ef9f40dd4e3",
        "696f614c018dbd45b80d6a07156f6fba4b33d0fb5f8ba98100f0618cecc97c9e",
    );
}

#[test]
fn v5_refund() {
    request_vector(
        refund::DECLARED,
        r#"{"orderNo":"P24070112000056000001","bizRefundNo":"R20240701001","amount":1,"reason":"用户申请退款","attach":"x","notifyUrl":"https://pb.example/daxpay/callback/r1","nonceStr":"0123456789abcdef","reqTime":1719815400}"#,
        "amount=1&attach=x&bizRefundNo=R20240701001&nonceStr=0123456789abcdef&notifyUrl=https://pb.example/daxpay/callback/r1&orderNo=P24070112000056000001&reason=用户申请退款&reqTime=1719815400&key=dax_secret_Key123",
        "cf293c95a4debb59e741f3fc8c0bdfd2",
        "ebf42e5c08f0b5b26108c645b8a0b2f7e9f0838c2e8b1cbfcb85bb3d86174914",
    );
}

#[test]
fn v6_refund_query() {
    request_vector(
        query::REFUND_DECLARED,
        r#"{"refundNo":"R24070112050056000002","nonceStr":"0123456789abcdef","reqTime":1719815700}"#,
        "nonceStr=0123456789abcdef&refundNo=R24070112050056000002&reqTime=1719815700&key=dax_secret_Key123",
        "36f7f258bd284dbddfffdeee1f3920b6",
        "97231a26109db96ce6a8dc6ecbe1537c3eb5b0e4d6d04ebade7478b61c974a30",
    );
    request_vector(
        query::REFUND_DECLARED,
        r#"{"bizRefundNo":"R20240701001","reqTime":1719815700}"#,
        "bizRefundNo=R20240701001&reqTime=1719815700&key=dax_secret_Key123",
        "c984c42875afe4e5dfb5066175508a5a",
        "6525ee6839fb07d0885d04ec011981e6a481271c5db8f52e1b7174e64d20073b",
    );
}

#[test]
fn v7_req_time_as_a_numeric_string() {
    for req_time in [r#""1719815400""#, "1719815400"] {
        request_vector(
            query::PAY_DECLARED,
            &format!(r#"{{"bizOrderNoeNo":"M20240701001","nonceStr":"0123456789abcdef","reqTime":{req_time}}}"#),
            "bizOrderNoeNo=M20240701001&nonceStr=0123456789abcdef&reqTime=1719815400&key=dax_secret_Key123",
            "afd686cfaa4c10bb28300c5873f98e34",
            "77ad52a286ac1fbca21a92c7bd573533d4082c6901ac09d28ef4a82aa125f1eb",
        );
    }
    // Close and cancel bind the same common fields.
    let bound = Bound::parse(
        close::DECLARED,
        br#"{"orderNo":"P1","reqTime":"1719815400"}"#,
    )
    .expect("binds");
    assert_eq!(bound.epoch("reqTime"), Some(1_719_815_400));
}

/// The golden `daxpay-2.0-close-orderNo` (vectors/golden/daxpay.json): `useCancel` is not a
/// 2.0 field and is dropped, a null `bizOrderNo` skipped.
#[test]
fn golden_close_binds_and_signs() {
    let wire = r#"{"orderNo":"P2024062712000000001","reqTime":1719460800,"nonceStr":"a8f5f167f44f4964","useCancel":true,"bizOrderNo":null}"#;
    let bound = Bound::parse(close::DECLARED, wire.as_bytes()).expect("binds");
    assert!(scheme(SignType::Md5).verify(
        &bound.sign_fields(),
        SECRET,
        "0bdbd4644b7ca6021cf57aecbbd22344"
    ));
}

/// A received answer or notice: §2.5's rule, the exact string, the given signature.
fn answer_vector(sign_type: SignType, wire: &str, string: &str) {
    let value: Value = serde_json::from_str(wire).expect("JSON");
    let map = value.as_object().expect("object");
    let fields = fields_of(map);
    assert_eq!(scheme(sign_type).string_to_sign(&fields, SECRET), string);
    assert!(verifies(sign_type, &value), "{wire}");
}

fn at(epoch: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(epoch).expect("time")
}

fn wall(epoch: i64) -> Option<time::PrimitiveDateTime> {
    super::super::wall_of(epoch, BEIJING)
}

fn text(s: &str) -> crate::daxpay::result::Member {
    crate::daxpay::result::Member::Text(s.to_owned())
}

#[test]
fn v8_pay_answer_rebuilt_by_the_sandbox() {
    use crate::daxpay::result::Member;
    let wire = r#"{"code":0,"msg":null,"resTime":1719815401,"sign":"a710135fe35cfa17b76bc7642f7b5a0c0a7db79291ae5cd7fa7640898ee37068","bizOrderNo":"M20240701001","orderNo":"P24070112000056000001","status":"progress","payBody":"{\"timeStamp\":\"1719815401\",\"signType\":\"HMAC-SHA256\",\"package\":\"prepay_id=wx01120000abc\",\"paySign\":\"ABCDEF0123\",\"nonceStr\":\"1719815401123\",\"appId\":\"wx0123456789abcdef\"}"}"#;
    answer_vector(
        SignType::HmacSha256,
        wire,
        "bizOrderNo=M20240701001&code=0&orderNo=P24070112000056000001&payBody={timeStamp:1719815401,signType:HMAC-SHA256,package:prepay_id=wx01120000abc,paySign:ABCDEF0123,nonceStr:1719815401123,appId:wx0123456789abcdef}&resTime=1719815401&status=progress&key=dax_secret_Key123",
    );
    let value: Value = serde_json::from_str(wire).expect("JSON");
    let fields = vec![
        ("bizOrderNo", text("M20240701001")),
        ("orderNo", text("P24070112000056000001")),
        ("status", text("progress")),
        ("payBody", text(value["payBody"].as_str().expect("text"))),
    ];
    for (sign_type, sign) in [
        (SignType::HmacSha256, value["sign"].as_str().expect("sign")),
        (SignType::Md5, "b2ff082ebcdcd8881ac951829ad605ba"),
    ] {
        let built = signed_result(
            scheme(sign_type),
            SECRET,
            at(1_719_815_401),
            0,
            None,
            &fields,
        );
        assert_eq!(built[3], ("sign", Member::Text(sign.to_owned())));
        let json = crate::daxpay::result::wire_json(&built);
        if sign_type == SignType::HmacSha256 {
            assert_eq!(json, wire, "the wire form, byte for byte");
        }
    }
}

#[test]
fn v9_v10_failures() {
    use crate::daxpay::result::Member;
    let wire9 = r#"{"code":0,"msg":"已经支付成功，请勿重新支付","resTime":1719815401,"sign":"add1240089956d99ed8d3fd55d0696316612ab27d8100e9bfd9e513a048aec67","bizOrderNo":null,"orderNo":null,"status":null,"payBody":null}"#;
    answer_vector(
        SignType::HmacSha256,
        wire9,
        "code=0&msg=已经支付成功，请勿重新支付&resTime=1719815401&key=dax_secret_Key123",
    );
    let nulls: Vec<(&'static str, Member)> = ["bizOrderNo", "orderNo", "status", "payBody"]
        .into_iter()
        .map(|k| (k, Member::Null))
        .collect();
    let scheme = scheme(SignType::HmacSha256);
    let built = signed_result(
        scheme,
        SECRET,
        at(1_719_815_401),
        0,
        Some("已经支付成功，请勿重新支付"),
        &nulls,
    );
    assert_eq!(crate::daxpay::result::wire_json(&built), wire9);
    let wire10 = r#"{"code":1,"msg":"支付金额超过限额","resTime":1719815401,"sign":"d259153c23abc541fbeb1a7bc5f960c3da8ce05fe52bdbc112d45353b5176def"}"#;
    answer_vector(
        SignType::HmacSha256,
        wire10,
        "code=1&msg=支付金额超过限额&resTime=1719815401&key=dax_secret_Key123",
    );
    let built = signed_result(
        scheme,
        SECRET,
        at(1_719_815_401),
        1,
        Some("支付金额超过限额"),
        &[],
    );
    assert_eq!(crate::daxpay::result::wire_json(&built), wire10);
}

fn vector_refund() -> SandboxRefund {
    SandboxRefund {
        app_id: None,
        order_id: 1,
        order_no: "P24070112000056000001".to_owned(),
        out_order_no: Some("4200002222202407011234567890".to_owned()),
        biz_order_no: "M20240701001".to_owned(),
        title: Some("测试商品".to_owned()),
        refund_no: "R24070112050056000002".to_owned(),
        biz_refund_no: "R20240701001".to_owned(),
        out_refund_no: Some("50300009999202407011234567890".to_owned()),
        channel: "wechat_pay".to_owned(),
        order_amount: Amount::from_fen(1),
        amount: Amount::from_fen(1),
        reason: Some("用户申请退款".to_owned()),
        finish_time: wall(1_719_815_730),
        status: RefundOrderStatus::Success,
        attach: Some("x".to_owned()),
        client_ip: None,
        error_code: None,
        error_msg: None,
        notify_url: None,
    }
}

#[test]
fn v11_v12_refund_answer_and_query() {
    let wire11 = r#"{"msg":"success","code":0,"data":{"code":0,"msg":null,"resTime":1719815701,"sign":"2d17e4778ab14dcc3cbbe2b4196da87b12cdb63f8ae40784c7827dad076eed5b","refundNo":"R24070112050056000002","bizRefundNo":"R20240701001","status":null},"traceId":"AbCdEfGhIjKl"}"#;
    let value: Value = serde_json::from_str(wire11).expect("JSON");
    answer_vector(
        SignType::HmacSha256,
        &value["data"].to_string(),
        "bizRefundNo=R20240701001&code=0&refundNo=R24070112050056000002&resTime=1719815701&key=dax_secret_Key123",
    );
    let wire12 = r#"{"code":0,"msg":null,"resTime":1719815760,"sign":"e4778efd0394892281051a686cf3a5444bc53ab9ae6a839ef55ac540de85eadc","orderNo":"P24070112000056000001","bizOrderNo":"M20240701001","outOrderNo":"4200002222202407011234567890","title":"测试商品","refundNo":"R24070112050056000002","bizRefundNo":"R20240701001","outRefundNo":"50300009999202407011234567890","channel":"wechat_pay","orderAmount":1,"amount":1,"reason":"用户申请退款","refundTime":null,"finishTime":1719815730,"status":"success","errorCode":null,"errorMsg":null}"#;
    answer_vector(
        SignType::HmacSha256,
        wire12,
        "amount=1&bizOrderNo=M20240701001&bizRefundNo=R20240701001&channel=wechat_pay&code=0&finishTime=1719815730&orderAmount=1&orderNo=P24070112000056000001&outOrderNo=4200002222202407011234567890&outRefundNo=50300009999202407011234567890&reason=用户申请退款&refundNo=R24070112050056000002&resTime=1719815760&status=success&title=测试商品&key=dax_secret_Key123",
    );
    // The sandbox's own RefundOrderResult, byte for byte.
    let result = query::refund_order_result(&vector_refund(), BEIJING);
    let built = signed_result(
        scheme(SignType::HmacSha256),
        SECRET,
        at(1_719_815_760),
        0,
        None,
        &result,
    );
    assert_eq!(crate::daxpay::result::wire_json(&built), wire12);
}

#[test]
fn v13_v14_pay_notices() {
    let wire13 = r#"{"code":0,"msg":null,"resTime":1719815460,"sign":"1fe363ab2c2354f9878d3ad2d283a57da154f0d97e1324637e2325b9ea22edf4","orderNo":"P24070112000056000001","bizOrderNo":"M20240701001","outOrderNo":"4200002222202407011234567890","title":"测试商品","description":"desc","allocation":false,"autoAllocation":null,"channel":"wechat_pay","method":"jsapi","amount":1,"status":"success","refundStatus":"no_refund","allocStatus":null,"payTime":1719815455,"expiredTime":1719822600,"closeTime":null,"attach":"a=1&b=2","errorCode":null,"errorMsg":null}"#;
    let string13 = "allocation=false&amount=1&attach=a=1&b=2&bizOrderNo=M20240701001&channel=wechat_pay&code=0&description=desc&expiredTime=1719822600&method=jsapi&orderNo=P24070112000056000001&outOrderNo=4200002222202407011234567890&payTime=1719815455&refundStatus=no_refund&resTime=1719815460&status=success&title=测试商品&key=dax_secret_Key123";
    answer_vector(SignType::HmacSha256, wire13, string13);
    let md5 = scheme(SignType::Md5).digest(string13, SECRET);
    assert_eq!(md5, "4c782a76498fa6ad2bfa6910fb1df681");

    let mut o = SandboxOrder::new(
        "P24070112000056000001",
        "M20240701001",
        OrderStatus::Success,
    );
    o.out_order_no = Some("4200002222202407011234567890".to_owned());
    o.title = Some("测试商品".to_owned());
    o.description = Some("desc".to_owned());
    o.channel = "wechat_pay".to_owned();
    o.method = "jsapi".to_owned();
    o.refund_status = RefundStatus::NoRefund;
    o.pay_time = wall(1_719_815_455);
    o.expired_time = wall(1_719_822_600);
    o.attach = Some("a=1&b=2".to_owned());
    let body = super::super::notice::body(
        scheme(SignType::HmacSha256),
        SECRET,
        at(1_719_815_460),
        &pay_notice(&o, BEIJING),
    );
    assert_eq!(body, wire13, "the sandbox's pay notice, byte for byte");

    answer_vector(
        SignType::HmacSha256,
        r#"{"code":0,"msg":null,"resTime":1719822605,"sign":"abb2eee5cf2b7ff4d504f7d1effd5e4bb2705b387d096f0e38fd656142b2a5d7","orderNo":"P24070112000056000003","bizOrderNo":"M20240701003","outOrderNo":null,"title":"T","description":null,"allocation":true,"autoAllocation":null,"channel":"ali_pay","method":"qrcode","amount":250,"status":"close","refundStatus":"no_refund","allocStatus":"waiting","payTime":null,"expiredTime":1719822600,"closeTime":1719822605,"attach":null,"errorCode":null,"errorMsg":null}"#,
        "allocStatus=waiting&allocation=true&amount=250&bizOrderNo=M20240701003&channel=ali_pay&closeTime=1719822605&code=0&expiredTime=1719822600&method=qrcode&orderNo=P24070112000056000003&refundStatus=no_refund&resTime=1719822605&status=close&title=T&key=dax_secret_Key123",
    );
}

#[test]
fn v15_v16_refund_notices() {
    let wire15 = r#"{"code":0,"msg":null,"resTime":1719815790,"sign":"ed188b7316f44268331e063a3744730c66758eadfe316b3341f939b890e1fb82","orderNo":"P24070112000056000001","bizOrderNo":"M20240701001","outOrderNo":"4200002222202407011234567890","title":"测试商品","refundNo":"R24070112050056000002","bizRefundNo":"R20240701001","outRefundNo":"50300009999202407011234567890","channel":"wechat_pay","orderAmount":1,"amount":1,"reason":"用户申请退款","refundTime":null,"finishTime":1719815730,"status":"success","attach":"x","errorCode":null,"errorMsg":null}"#;
    answer_vector(
        SignType::HmacSha256,
        wire15,
        "amount=1&attach=x&bizOrderNo=M20240701001&bizRefundNo=R20240701001&channel=wechat_pay&code=0&finishTime=1719815730&orderAmount=1&orderNo=P24070112000056000001&outOrderNo=4200002222202407011234567890&outRefundNo=50300009999202407011234567890&reason=用户申请退款&refundNo=R24070112050056000002&resTime=1719815790&status=success&title=测试商品&key=dax_secret_Key123",
    );
    let body = super::super::notice::body(
        scheme(SignType::HmacSha256),
        SECRET,
        at(1_719_815_790),
        &refund_notice(&vector_refund(), BEIJING),
    );
    assert_eq!(body, wire15, "the sandbox's refund notice, byte for byte");
    answer_vector(
        SignType::HmacSha256,
        r#"{"code":0,"msg":null,"resTime":1719816000,"sign":"2257a3344170fc21a5d421e67be0bb615e25f47d3990070c36a6274cc26cc248","orderNo":"P24070112000056000001","bizOrderNo":"M20240701001","outOrderNo":"4200002222202407011234567890","title":"测试商品","refundNo":"R24070112050056000004","bizRefundNo":"R20240701002","outRefundNo":null,"channel":"wechat_pay","orderAmount":1,"amount":1,"reason":null,"refundTime":null,"finishTime":null,"status":"close","attach":null,"errorCode":null,"errorMsg":null}"#,
        "amount=1&bizOrderNo=M20240701001&bizRefundNo=R20240701002&channel=wechat_pay&code=0&orderAmount=1&orderNo=P24070112000056000001&outOrderNo=4200002222202407011234567890&refundNo=R24070112050056000004&resTime=1719816000&status=close&title=测试商品&key=dax_secret_Key123",
    );
}

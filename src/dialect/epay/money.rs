//! epay's money: yuan as decimal text, read exactly into fen and written back as the gateway
//! writes it (epay.md §9, §6.3, §11). No floating point touches an amount.
//!
//! - A pay's `money` is accepted iff PHP finds it non-empty (`""`, `"0"` are `金额(money)不能为空`),
//!   numeric, made only of `[0-9.]`, and above zero; more than two decimals are rounded half away
//!   from zero, as the gateway's `decimal(10,2)` column stores them (`1.005` → 1.01).
//! - A refund's `money` (`api.php?act=refund`, `/api/pay/refund`) passes the same shape test
//!   after `trim` (`金额输入错误`).
//! - Answers carry the stored two-decimal text (`"1.00"`); notifications PHP's float text (`1.5`).

use crate::domain::ops::pay::MAX_AMOUNT;
use crate::domain::order::Fen;

/// Why a money text is refused (the caller words it for its endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    /// PHP `empty()`: absent, `""` or `"0"`.
    Empty,
    /// Not `is_numeric` with `^[0-9.]+$`, or not above zero.
    Invalid,
    /// Above what the gateway stores (`decimal(10,2)`: 99999999.99) and DaxPay takes.
    TooLarge,
}

/// epay's own words for a pay's money refusals.
pub fn pay_words(error: MoneyError) -> &'static str {
    match error {
        MoneyError::Empty => "金额(money)不能为空",
        MoneyError::Invalid => "金额不合法",
        MoneyError::TooLarge => "最大支付金额是99999999.99元",
    }
}

/// The digits of a text that is `is_numeric` and matches `^[0-9.]+$`: digits with at most one
/// dot and at least one digit (`1`, `1.`, `.5`, `01.50`).
fn decimal_parts(text: &str) -> Option<(&str, &str)> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    Some((whole, fraction))
}

/// The amount in fen, rounded half away from zero at the third decimal (MySQL's `decimal(10,2)`
/// store of a decimal string).
fn to_fen(whole: &str, fraction: &str) -> Result<Fen, MoneyError> {
    let whole = whole.trim_start_matches('0');
    // More than 8 integer digits is over `decimal(10,2)` whatever the fraction.
    if whole.len() > 8 {
        return Err(MoneyError::TooLarge);
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| MoneyError::Invalid)?
    };
    let digit = |i: usize| u64::from(fraction.as_bytes().get(i).map_or(0, |b| b - b'0'));
    let mut fen = whole * 100 + digit(0) * 10 + digit(1);
    if digit(2) >= 5 {
        fen += 1;
    }
    Ok(Fen(fen))
}

/// A pay's `money` (`submit.php`, `mapi.php`, V2 `submit`/`create`).
///
/// paybridge's one addition: a positive amount that rounds to 0.00 (`0.001`) is refused as
/// `金额不合法`, where the gateway would store an order of 0.00 that no channel can take.
pub fn pay_money(text: Option<&str>) -> Result<Fen, MoneyError> {
    if super::php::empty(text) {
        return Err(MoneyError::Empty);
    }
    let text = text.unwrap_or_default();
    let (whole, fraction) = decimal_parts(text).ok_or(MoneyError::Invalid)?;
    let fen = to_fen(whole, fraction)?;
    if fen.0 == 0 {
        return Err(MoneyError::Invalid);
    }
    if fen > MAX_AMOUNT {
        return Err(MoneyError::TooLarge);
    }
    Ok(fen)
}

/// A refund's `money`, after PHP's `trim`: the shape test only (the gateway lets `0` through;
/// paybridge refuses it with the same words, as no channel refunds nothing).
pub fn refund_money(text: Option<&str>) -> Result<Fen, MoneyError> {
    let text = text
        .unwrap_or_default()
        .trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
    let (whole, fraction) = decimal_parts(text).ok_or(MoneyError::Invalid)?;
    match to_fen(whole, fraction)? {
        Fen(0) => Err(MoneyError::Invalid),
        fen if fen > MAX_AMOUNT => Err(MoneyError::TooLarge),
        fen => Ok(fen),
    }
}

/// The stored `decimal(10,2)` as query answers print it: `"1.00"`, `"0.10"`.
pub fn stored(amount: Fen) -> String {
    amount.yuan()
}

/// The amount as PHP prints a float of it (notifications): `1.00` → `1`, `1.50` → `1.5`.
pub fn float_text(amount: Fen) -> String {
    amount.yuan_stripped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pay_money_as_epay_accepts_it() {
        for (text, fen) in [
            ("1", 100),
            ("1.", 100),
            (".5", 50),
            ("01.50", 150),
            ("1.005", 101),
            ("1.004", 100),
            ("1.0049999", 100),
            ("0.01", 1),
            ("0.005", 1),
            ("99999999.99", 9_999_999_999),
            ("88.88", 8888),
        ] {
            assert_eq!(pay_money(Some(text)), Ok(Fen(fen)), "{text}");
        }
    }

    #[test]
    fn pay_money_refusals_in_epays_words() {
        for (text, error) in [
            (None, MoneyError::Empty),
            (Some(""), MoneyError::Empty),
            (Some("0"), MoneyError::Empty),
            (Some("0.00"), MoneyError::Invalid),
            (Some("0.001"), MoneyError::Invalid),
            (Some("-1"), MoneyError::Invalid),
            (Some("1e2"), MoneyError::Invalid),
            (Some(" 1"), MoneyError::Invalid),
            (Some("1 "), MoneyError::Invalid),
            (Some("1,00"), MoneyError::Invalid),
            (Some("１"), MoneyError::Invalid),
            (Some("."), MoneyError::Invalid),
            (Some("1.2.3"), MoneyError::Invalid),
            (Some("+1"), MoneyError::Invalid),
            (Some("99999999.995"), MoneyError::TooLarge),
            (Some("100000000"), MoneyError::TooLarge),
            (Some("123456789012345678901234567890"), MoneyError::TooLarge),
        ] {
            assert_eq!(pay_money(text), Err(error), "{text:?}");
        }
        assert_eq!(pay_words(MoneyError::Empty), "金额(money)不能为空");
        assert_eq!(pay_words(MoneyError::Invalid), "金额不合法");
    }

    #[test]
    fn refund_money_is_trimmed_and_shape_checked() {
        assert_eq!(refund_money(Some(" 1.00 ")), Ok(Fen(100)));
        assert_eq!(refund_money(Some("0.5")), Ok(Fen(50)));
        assert_eq!(refund_money(Some("0")), Err(MoneyError::Invalid));
        assert_eq!(refund_money(Some("")), Err(MoneyError::Invalid));
        assert_eq!(refund_money(None), Err(MoneyError::Invalid));
        assert_eq!(refund_money(Some("-1")), Err(MoneyError::Invalid));
        assert_eq!(refund_money(Some("1e1")), Err(MoneyError::Invalid));
    }

    #[test]
    fn money_is_written_as_the_gateway_writes_it() {
        assert_eq!(stored(Fen(100)), "1.00");
        assert_eq!(stored(Fen(10)), "0.10");
        for (fen, text) in [
            (100, "1"),
            (150, "1.5"),
            (10, "0.1"),
            (1, "0.01"),
            (10050, "100.5"),
        ] {
            assert_eq!(float_text(Fen(fen)), text);
        }
        assert_eq!(float_text(Fen(9_999_999_999)), "99999999.99");
    }
}

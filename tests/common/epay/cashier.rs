//! Reading paybridge's cashier page as a browser does: the form's hidden fields (decoded from
//! their HTML escapes) and the pay types its buttons offer, to post the payer's pick back.

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;` decoded (what the page escapes).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + end]))
}

/// The form's hidden fields, in order.
pub fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input ")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            (attribute(tag, "type")? == "hidden")
                .then(|| Some((attribute(tag, "name")?, attribute(tag, "value")?)))?
        })
        .collect()
}

/// The buttons: (field name, value) of each.
pub fn choices(page: &str) -> Vec<(String, String)> {
    page.split("<button ")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            Some((attribute(tag, "name")?, attribute(tag, "value")?))
        })
        .collect()
}

/// Where the form posts.
pub fn action(page: &str) -> Option<String> {
    let form = &page[page.find("<form ")?..];
    attribute(&form[..form.find('>')?], "action")
}

/// Where the browser posts the form of the page served at `page_path`: its action resolved as a
/// relative URL (the last segment of the page's path replaced), an absolute path kept.
pub fn post_path(page_path: &str, page: &str) -> Option<String> {
    let action = action(page)?;
    if action.starts_with('/') {
        return Some(action);
    }
    let base = page_path.split('?').next().unwrap_or(page_path);
    let dir = &base[..=base.rfind('/')?];
    Some(format!("{dir}{action}"))
}

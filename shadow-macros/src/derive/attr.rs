//! Reads `#[derive(ShadowCompare)]`'s input into a [`Model`]: the `#[shadow(...)]` attributes of
//! the type and of every field, checked key by key and then across keys. Every error is spanned
//! at the offending token and all of them are collected ([`Errors`]), so one compile shows every
//! bad attribute.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Lit, LitStr, Member, Path, Token, Type};

/// The keys a field's `#[shadow(...)]` accepts, in the order the docs list them.
pub(crate) const FIELD_KEYS: &[&str] = &[
    "ignore",
    "tolerance",
    "relative",
    "within",
    "unordered",
    "trim",
    "nfc",
    "sensitive",
    "missing_as_null",
    "missing_as_empty",
    "eq",
];

/// The keys the type's `#[shadow(...)]` accepts.
pub(crate) const CONTAINER_KEYS: &[&str] = &["crate"];

/// Keys that change how a field is compared, which `ignore` and `eq` exclude.
const COMPARISON_KEYS: &[&str] = &[
    "tolerance",
    "relative",
    "within",
    "unordered",
    "trim",
    "nfc",
    "missing_as_null",
    "missing_as_empty",
];

/// Errors gathered over the whole input.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        self.0.map_or(Ok(value), Err)
    }
}

/// A field's options. Each is the span of its key (for errors across keys) and its value.
#[derive(Default)]
pub(crate) struct FieldOpts {
    pub ignore: Option<Span>,
    pub tolerance: Option<(Span, f64)>,
    pub relative: Option<(Span, f64)>,
    /// In nanoseconds.
    pub within: Option<(Span, u64)>,
    pub unordered: Option<Span>,
    pub trim: Option<Span>,
    pub nfc: Option<Span>,
    pub sensitive: Option<Span>,
    pub missing_as_null: Option<Span>,
    pub missing_as_empty: Option<Span>,
    pub eq: Option<Span>,
}

impl FieldOpts {
    /// The spans of the keys given, by name.
    fn given(&self) -> Vec<(&'static str, Span)> {
        let mut out = Vec::new();
        let mut add = |name, span: Option<Span>| {
            if let Some(s) = span {
                out.push((name, s));
            }
        };
        add("ignore", self.ignore);
        add("tolerance", self.tolerance.map(|t| t.0));
        add("relative", self.relative.map(|t| t.0));
        add("within", self.within.map(|t| t.0));
        add("unordered", self.unordered);
        add("trim", self.trim);
        add("nfc", self.nfc);
        add("sensitive", self.sensitive);
        add("missing_as_null", self.missing_as_null);
        add("missing_as_empty", self.missing_as_empty);
        add("eq", self.eq);
        out
    }
}

pub(crate) struct FieldModel<'a> {
    /// `name` or `0`, for patterns.
    pub member: Member,
    /// The name in paths: the field's name without `r#`.
    pub name: String,
    pub ty: &'a Type,
    pub opts: FieldOpts,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Named,
    Tuple,
    Unit,
}

pub(crate) struct Shape<'a> {
    pub style: Style,
    pub fields: Vec<FieldModel<'a>>,
}

impl Shape<'_> {
    /// One unnamed field: transparent in paths and values, as serde treats a newtype.
    pub(crate) fn is_newtype(&self) -> bool {
        self.style == Style::Tuple && self.fields.len() == 1
    }
}

pub(crate) struct VariantModel<'a> {
    pub ident: &'a Ident,
    pub name: String,
    pub shape: Shape<'a>,
}

pub(crate) enum Body<'a> {
    Struct(Shape<'a>),
    Enum(Vec<VariantModel<'a>>),
}

pub(crate) struct Model<'a> {
    pub input: &'a DeriveInput,
    pub krate: Path,
    pub body: Body<'a>,
}

/// The crate path of `#[shadow(crate = "...")]`, or `::parallel_run`; for the fallback impl
/// emitted next to errors, so it ignores every other problem.
pub(crate) fn krate_or_default(input: &DeriveInput) -> Path {
    let mut errors = Errors::default();
    container(&input.attrs, &mut errors).unwrap_or_else(|| syn::parse_quote!(::parallel_run))
}

pub(crate) fn model(input: &DeriveInput) -> syn::Result<Model<'_>> {
    let mut errors = Errors::default();
    let krate = container(&input.attrs, &mut errors);
    let body = match &input.data {
        Data::Struct(s) => Body::Struct(shape(&s.fields, &mut errors)),
        Data::Enum(e) => Body::Enum(
            e.variants
                .iter()
                .map(|v| {
                    for a in v.attrs.iter().filter(|a| a.path().is_ident("shadow")) {
                        errors.at(
                            a.path().span(),
                            "`#[shadow(...)]` does not apply to an enum variant; put it on the variant's fields",
                        );
                    }
                    VariantModel {
                        ident: &v.ident,
                        name: v.ident.unraw().to_string(),
                        shape: shape(&v.fields, &mut errors),
                    }
                })
                .collect(),
        ),
        Data::Union(u) => {
            errors.at(
                u.union_token.span,
                "`ShadowCompare` cannot be derived for a union: which field is live is unknown; implement `ShadowCompare` by hand",
            );
            Body::Struct(Shape {
                style: Style::Unit,
                fields: Vec::new(),
            })
        }
    };
    errors.finish(Model {
        input,
        krate: krate.unwrap_or_else(|| syn::parse_quote!(::parallel_run)),
        body,
    })
}

fn shape<'a>(fields: &'a Fields, errors: &mut Errors) -> Shape<'a> {
    let style = match fields {
        Fields::Named(_) => Style::Named,
        Fields::Unnamed(_) => Style::Tuple,
        Fields::Unit => Style::Unit,
    };
    let fields = fields
        .iter()
        .zip(fields.members())
        .map(|(f, member)| FieldModel {
            name: match &f.ident {
                Some(id) => id.unraw().to_string(),
                None => member_index(&member).to_string(),
            },
            member,
            ty: &f.ty,
            opts: field_opts(&f.attrs, errors),
        })
        .collect();
    Shape { style, fields }
}

fn member_index(m: &Member) -> u32 {
    match m {
        Member::Unnamed(i) => i.index,
        Member::Named(_) => 0,
    }
}

/// The `#[shadow]` attributes among `attrs`, each checked to be a list (`#[shadow(...)]`).
fn shadow_attrs<'a>(attrs: &'a [Attribute], errors: &mut Errors) -> Vec<&'a Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("shadow"))
        .filter(|a| match a.meta.require_list() {
            Ok(_) => true,
            Err(_) => {
                errors.at(
                    a.path().span(),
                    "expected `#[shadow(...)]`, e.g. `#[shadow(ignore)]` or `#[shadow(tolerance = 0.005)]`",
                );
                false
            }
        })
        .collect()
}

/// `#[shadow(crate = "...")]` on the type.
fn container(attrs: &[Attribute], errors: &mut Errors) -> Option<Path> {
    let mut krate: Option<(Span, Path)> = None;
    for attr in shadow_attrs(attrs, errors) {
        each_key(attr, errors, |input| {
            let key = input.call(Ident::parse_any)?;
            let name = key.to_string();
            if name != "crate" {
                let what = if FIELD_KEYS.contains(&name.as_str()) {
                    format!("`{name}` is a field attribute: put it on a field; on the type, `shadow` accepts: {}", CONTAINER_KEYS.join(", "))
                } else {
                    format!(
                        "unknown `shadow` attribute `{name}` on the type; expected: {}",
                        CONTAINER_KEYS.join(", ")
                    )
                };
                return Err(syn::Error::new(key.span(), what));
            }
            expect_eq(input, &name)?;
            let lit: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`crate` takes a string: `crate = \"::my_reexport::parallel_run\"`",
                )
            })?;
            let path = lit.parse::<Path>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "`crate` must be a path such as \"parallel_run\" or \"::my_reexport::parallel_run\"",
                    )
                })?;
            if krate.is_some() {
                return Err(duplicate(&key));
            }
            krate = Some((key.span(), path));
            Ok(())
        });
    }
    krate.map(|(_, p)| p)
}

/// Parses one `#[shadow(key, key = value, ...)]` with `key` for each key; an error stops that
/// attribute (the keys before it are kept) and is collected.
fn each_key(
    attr: &Attribute,
    errors: &mut Errors,
    mut key: impl FnMut(ParseStream) -> syn::Result<()>,
) {
    let parsed = attr.parse_args_with(|input: ParseStream| {
        while !input.is_empty() {
            key(input)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    });
    if let Err(e) = parsed {
        errors.push(e);
    }
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(
        key.span(),
        format!("`{key}` is set more than once; give it once"),
    )
}

fn expect_eq(input: ParseStream, key: &str) -> syn::Result<()> {
    input.parse::<Token![=]>().map(drop).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected `=` after `{key}`: `{key} = ...`"),
        )
    })
}

/// Stores a key's value the first time; a second time is an error at the second key.
fn set_once<T>(slot: &mut Option<T>, key: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(value);
    Ok(())
}

/// Every `#[shadow(...)]` of one field, merged, then checked across keys.
fn field_opts(attrs: &[Attribute], errors: &mut Errors) -> FieldOpts {
    let mut o = FieldOpts::default();
    for attr in shadow_attrs(attrs, errors) {
        // Keys before an error in one attribute are kept, so that the cross-key checks below
        // still see them.
        each_key(attr, errors, |input| field_key(input, &mut o));
    }
    let given = o.given();
    for (exclusive, why) in [
        ("ignore", "an ignored field is never compared"),
        ("eq", "an `eq` field is compared with `PartialEq` alone"),
    ] {
        if !given.iter().any(|(k, _)| *k == exclusive) {
            continue;
        }
        for (key, span) in given.iter().filter(|(k, _)| COMPARISON_KEYS.contains(k)) {
            errors.at(
                *span,
                format!("`{key}` cannot be combined with `{exclusive}`: {why}; remove one of them"),
            );
        }
    }
    o
}

/// One `key` or `key = value` of a field's attribute, into `o`.
fn field_key(input: ParseStream, o: &mut FieldOpts) -> syn::Result<()> {
    let key = input.call(Ident::parse_any)?;
    let name = key.to_string();
    let flag = |input: ParseStream, slot: &mut Option<Span>| -> syn::Result<()> {
        if input.peek(Token![=]) {
            return Err(syn::Error::new(
                input.span(),
                format!("`{name}` takes no value: write `#[shadow({name})]`"),
            ));
        }
        set_once(slot, &key, key.span())
    };
    match name.as_str() {
        "ignore" => flag(input, &mut o.ignore),
        "unordered" => flag(input, &mut o.unordered),
        "trim" => flag(input, &mut o.trim),
        "nfc" => flag(input, &mut o.nfc),
        "sensitive" => flag(input, &mut o.sensitive),
        "missing_as_null" => flag(input, &mut o.missing_as_null),
        "missing_as_empty" => flag(input, &mut o.missing_as_empty),
        "eq" => flag(input, &mut o.eq),
        "tolerance" | "relative" => {
            expect_eq(input, &name)?;
            let value = parse_tolerance(input, &name)?;
            let slot = if name == "tolerance" {
                &mut o.tolerance
            } else {
                &mut o.relative
            };
            set_once(slot, &key, (key.span(), value))
        }
        "within" => {
            expect_eq(input, &name)?;
            let lit: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`within` takes a duration in a string, such as `within = \"2s\"`",
                )
            })?;
            let nanos = parse_duration(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
            set_once(&mut o.within, &key, (key.span(), nanos))
        }
        _ => Err(syn::Error::new(
            key.span(),
            format!(
                "unknown `shadow` field attribute `{name}`; expected one of: {}",
                FIELD_KEYS.join(", ")
            ),
        )),
    }
}

/// A non-negative, finite number literal (`0.005`, `1e-9`, `2`).
fn parse_tolerance(input: ParseStream, key: &str) -> syn::Result<f64> {
    let example = if key == "tolerance" {
        "tolerance = 0.005"
    } else {
        "relative = 1e-9"
    };
    let negative = input.peek(Token![-]);
    let minus = if negative {
        Some(input.parse::<Token![-]>()?)
    } else {
        None
    };
    let not_a_number = |span: Span| {
        syn::Error::new(
            span,
            format!("`{key}` must be a number, such as `{example}`"),
        )
    };
    let lit: Lit = input.parse().map_err(|e| not_a_number(e.span()))?;
    let value = match &lit {
        Lit::Float(f) => f.base10_parse::<f64>()?,
        Lit::Int(i) => i.base10_parse::<f64>()?,
        other => return Err(not_a_number(other.span())),
    };
    if let Some(minus) = minus {
        return Err(syn::Error::new_spanned(
            quote::quote!(#minus #lit),
            format!("`{key}` must not be negative: it is the largest difference tolerated"),
        ));
    }
    if !value.is_finite() {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must be a finite number"),
        ));
    }
    Ok(value)
}

/// A duration literal in nanoseconds: an integer and a unit, `ns`, `us` (`µs`), `ms`, `s`, `m`
/// (`min`) or `h` (`"150ms"`, `"2s"`, `"1m"`), more than zero.
pub(crate) fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("`within` must be a duration such as \"150ms\", \"2s\" or \"1m\", found {s:?}")
    })?;
    let scale: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => {
            return Err(format!(
                "`within` needs a unit (ns, us, ms, s, m or h), found {s:?}"
            ))
        }
        other => {
            return Err(format!(
                "unknown unit `{other}` in `within`; expected ns, us, ms, s, m or h (found {s:?})"
            ))
        }
    };
    let nanos = n
        .checked_mul(scale)
        .ok_or_else(|| format!("`within` is too long, found {s:?}"))?;
    if nanos == 0 {
        return Err(format!(
            "`within` must be more than zero (equal times always match), found {s:?}"
        ));
    }
    Ok(nanos)
}

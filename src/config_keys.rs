//! Every configuration key, listed from the configuration types themselves,
//! and the test that holds `docs/config-keys.toml` to that list.
//!
//! `serve --print-config` (which scripts/gen-config-reference.py reads)
//! leaves out unset `Option` keys and the members of optional sections and
//! of `[[...]]` tables, so it cannot show a new optional key. Here the
//! `Deserialize` of [`Config`] is driven by a tracing deserializer instead:
//! each struct it asks for reports its field names (under their dotted
//! path, written as `docs/config-keys.toml` writes them: an array of tables'
//! members under the array's own path), and each field's value is visited
//! in turn with a neutral value: `Option` as `Some`, a sequence as one
//! element, an enum as its first variant, a map as empty (a map is one key,
//! `map = true` in the file). A field whose deserializer refuses the neutral
//! value is left out of the next pass, so it cannot hide its neighbours.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// The dotted path of every key (sections included) `T` accepts.
pub fn keys_of<T: DeserializeOwned>() -> BTreeSet<String> {
    let trace = Trace::default();
    loop {
        let skipped = trace.skipped.borrow().len();
        let done = T::deserialize(Tracer { trace: &trace, path: String::new() }).is_ok();
        // A refusal skips the innermost field that caused it; when nothing
        // new is skipped another pass would see the same.
        if done || trace.skipped.borrow().len() == skipped {
            return trace.keys.into_inner();
        }
    }
}

#[derive(Default)]
struct Trace {
    keys: RefCell<BTreeSet<String>>,
    /// Fields whose value was refused: not given again.
    skipped: RefCell<BTreeSet<String>>,
}

#[derive(Debug)]
struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

struct Tracer<'t> {
    trace: &'t Trace,
    path: String,
}

impl<'t> Tracer<'t> {
    fn at(&self, field: &str) -> String {
        if self.path.is_empty() { field.to_string() } else { format!("{}.{field}", self.path) }
    }

    fn again(&self) -> Tracer<'t> {
        Tracer { trace: self.trace, path: self.path.clone() }
    }
}

macro_rules! neutral {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Error;

    neutral! {
        deserialize_any => visit_str(""),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i8(0),
        deserialize_i16 => visit_i16(0),
        deserialize_i32 => visit_i32(0),
        deserialize_i64 => visit_i64(0),
        deserialize_i128 => visit_i128(0),
        deserialize_u8 => visit_u8(0),
        deserialize_u16 => visit_u16(0),
        deserialize_u32 => visit_u32(0),
        deserialize_u64 => visit_u64(0),
        deserialize_u128 => visit_u128(0),
        deserialize_f32 => visit_f32(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('a'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_identifier => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// One element, at the sequence's own path.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Elements { tracer: self, left: 1 })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Elements { tracer: self, left: len })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _name: &'static str, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Elements { tracer: self, left: len })
    }

    /// A table of free names: one key, nothing under it.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(de::value::MapDeserializer::new(std::iter::empty::<((), ())>()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Every field, before any value can be refused.
        self.trace.keys.borrow_mut().extend(fields.iter().map(|f| self.at(f)));
        visitor.visit_map(Fields { tracer: self, fields: fields.iter(), current: None })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Some(variant) = variants.first() else { return Err(de::Error::custom(format!("enum {name} has no variants"))) };
        visitor.visit_enum(Variant { tracer: self, variant })
    }
}

/// A struct's fields, each given once with a neutral value.
struct Fields<'t> {
    tracer: Tracer<'t>,
    fields: std::slice::Iter<'static, &'static str>,
    current: Option<String>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        for field in self.fields.by_ref() {
            let path = self.tracer.at(field);
            if !self.tracer.trace.skipped.borrow().contains(&path) {
                self.current = Some(path);
                return seed.deserialize(field.into_deserializer()).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let path = self.current.take().unwrap_or_default();
        let skipped = self.tracer.trace.skipped.borrow().len();
        let value = seed.deserialize(Tracer { trace: self.tracer.trace, path: path.clone() });
        // Refused here, not by a field further in (which is skipped itself).
        if value.is_err() && self.tracer.trace.skipped.borrow().len() == skipped {
            self.tracer.trace.skipped.borrow_mut().insert(path);
        }
        value
    }
}

struct Elements<'t> {
    tracer: Tracer<'t>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(self.tracer.again()).map(Some)
    }
}

struct Variant<'t> {
    tracer: Tracer<'t>,
    variant: &'static str,
}

impl<'de, 't> de::EnumAccess<'de> for Variant<'t> {
    type Error = Error;
    type Variant = Tracer<'t>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Tracer<'t>), Error> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, self.tracer))
    }
}

impl<'de> de::VariantAccess<'de> for Tracer<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Every key of the configuration types has an entry in
    /// docs/config-keys.toml (English and Chinese, checked by
    /// scripts/gen-config-reference.py, as are the generated pages), and
    /// every entry is a key of the types.
    #[test]
    fn every_configuration_key_is_documented() {
        let keys = keys_of::<Config>();
        // The tracer reaches into unset options, optional sections and
        // `[[...]]` tables nested in one another.
        for key in ["dicom_tls_bind", "http.tls.cert", "access.oidc.client_secret", "recognition.items.procedure_codes.value", "tracing"] {
            assert!(keys.contains(key), "{key} not found by the tracer: {keys:?}");
        }
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config-keys.toml");
        let documented: toml::Table = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let undocumented: Vec<&String> = keys.iter().filter(|k| !documented.contains_key(*k)).collect();
        assert!(
            undocumented.is_empty(),
            "configuration keys with no entry in docs/config-keys.toml (add one, in English and Chinese, \
             then run scripts/gen-config-reference.py): {undocumented:?}"
        );
        let gone: Vec<&String> = documented.keys().filter(|k| !keys.contains(*k)).collect();
        assert!(gone.is_empty(), "docs/config-keys.toml documents keys the configuration types do not have: {gone:?}");
    }
}

// JSON schema -> GBNF: the subset OpenAI's strict structured outputs use, compiled to grammar
// text for parse_gbnf. Any keyword outside that subset is an error naming it, never ignored.
#pragma once

#include <string>
#include <string_view>

namespace whale::constrain {

// Supported: type (string or list of types: object, array, string, number, integer, boolean,
// null), properties, required, additionalProperties, items, minItems, maxItems, minLength,
// maxLength, enum, const, anyOf, $ref to "#/..." ($defs, definitions), and the annotations title,
// description, default, examples, $schema, $id, $comment. Objects with `properties` produce exactly
// the declared properties in their declared order (required ones always, optional ones maybe),
// never extra keys, which is valid whatever additionalProperties says; an object without
// `properties` is any JSON object (additionalProperties absent or true) or {} (false).
// Output is compact-ish JSON: whitespace between tokens is at most a space or a newline with
// up to 20 indent characters; numbers have at most 16 integer and 16 fraction digits and a
// two-digit exponent (so every number fits a double).
// Throws whale::Error (kUnsupported or kInvalidArgument) whose message names the keyword and
// where it is ("unsupported JSON schema keyword 'minimum' at #/properties/age").
// With a `rule_prefix`, every rule is named prefix + name and the schema's rule is prefix + "root",
// so several schemas (tool arguments, say) can live in one grammar text.
std::string json_schema_to_gbnf(std::string_view schema_json, std::string_view rule_prefix = "");

// Any JSON object (response_format json_object): nesting is limited to 8 levels.
std::string any_json_object_gbnf();

}  // namespace whale::constrain

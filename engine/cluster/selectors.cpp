#include "cluster/selectors.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace refit {
namespace {

using Json = nlohmann::json;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The name part of a label key, and a non-empty label value: at most 63 characters of [-_.a-zA-Z0-9],
// beginning and ending with a letter or digit.
bool is_label_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::ranges::all_of(s, [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// An RFC 1123 subdomain: dot-separated lowercase labels, at most 253 characters.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (part.empty() || !lower_alnum(part.front()) || !lower_alnum(part.back())) return false;
    if (!std::ranges::all_of(part, [&](char c) { return lower_alnum(c) || c == '-'; })) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_label_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return is_label_name(key);
  return is_dns_subdomain(key.substr(0, slash)) && is_label_name(key.substr(slash + 1));
}

bool is_label_value(std::string_view value) { return value.empty() || is_label_name(value); }

std::string bad_key_message(std::string_view key) {
  return fmt::format(
      "\"{}\" is not a valid label key (a name of at most 63 letters, digits, '-', '_' or '.', beginning "
      "and ending with a letter or digit, optionally after a DNS subdomain prefix and '/')",
      key);
}

std::string bad_value_message(std::string_view value) {
  return fmt::format(
      "\"{}\" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', beginning and "
      "ending with a letter or digit)",
      value);
}

// ---------------------------------------------------------------------------------------------------
// Label selector strings, tokenized like the API server does: identifiers are runs of anything that is
// neither whitespace nor one of ! = ( ) ,

enum class TokenKind { Identifier, Comma, OpenParen, CloseParen, Equals, DoubleEquals, NotEquals, Bang, End };

struct Token {
  TokenKind kind;
  std::string_view text;
  std::size_t offset;
};

std::string describe(const Token& token) {
  if (token.kind == TokenKind::End) return "end of string";
  if (token.kind == TokenKind::Identifier) return fmt::format("\"{}\"", token.text);
  return fmt::format("'{}'", token.text);
}

class LabelSelectorParser {
 public:
  explicit LabelSelectorParser(std::string_view text) : text_(text) {}

  std::vector<LabelRequirement> parse() {
    std::vector<LabelRequirement> requirements;
    if (peek().kind == TokenKind::End) return requirements;
    while (true) {
      requirements.push_back(parse_requirement());
      Token separator = next();
      if (separator.kind == TokenKind::End) return requirements;
      if (separator.kind != TokenKind::Comma) fail(separator, "expected ',' or end of string, found " + describe(separator));
    }
  }

 private:
  LabelRequirement parse_requirement() {
    Token first = next();
    if (first.kind == TokenKind::Bang) {
      return {key_of(next()), LabelRequirement::Op::DoesNotExist, {}};
    }
    std::string key = key_of(first);
    Token op = peek();
    switch (op.kind) {
      case TokenKind::Comma:
      case TokenKind::End:
        return {std::move(key), LabelRequirement::Op::Exists, {}};
      case TokenKind::Equals:
      case TokenKind::DoubleEquals:
        next();
        return {std::move(key), LabelRequirement::Op::Equals, {exact_value()}};
      case TokenKind::NotEquals:
        next();
        return {std::move(key), LabelRequirement::Op::NotEquals, {exact_value()}};
      case TokenKind::Identifier:
        if (op.text == "in" || op.text == "notin") {
          next();
          auto kind = op.text == "in" ? LabelRequirement::Op::In : LabelRequirement::Op::NotIn;
          return {std::move(key), kind, value_set(op.text)};
        }
        break;
      default:
        break;
    }
    fail(op, fmt::format("expected '=', '==', '!=', 'in', 'notin', ',' or end of string after key \"{}\", found {}",
                         key, describe(op)));
  }

  std::string key_of(const Token& token) {
    if (token.kind != TokenKind::Identifier) fail(token, "expected a label key, found " + describe(token));
    if (!is_label_key(token.text)) fail(token, bad_key_message(token.text));
    return std::string(token.text);
  }

  // `a=` selects the empty value, as in Kubernetes.
  std::string exact_value() {
    Token token = peek();
    if (token.kind == TokenKind::Comma || token.kind == TokenKind::End) return {};
    next();
    return value_of(token);
  }

  std::string value_of(const Token& token) {
    if (token.kind != TokenKind::Identifier) fail(token, "expected a value, found " + describe(token));
    if (!is_label_value(token.text)) fail(token, bad_value_message(token.text));
    return std::string(token.text);
  }

  std::vector<std::string> value_set(std::string_view op) {
    Token open = next();
    if (open.kind != TokenKind::OpenParen) {
      fail(open, fmt::format("expected '(' after '{}', found {}", op, describe(open)));
    }
    std::vector<std::string> values;
    while (true) {
      Token value = next();
      if (values.empty() && value.kind == TokenKind::CloseParen) {
        fail(value, fmt::format("'{}' needs at least one value", op));
      }
      values.push_back(value_of(value));
      Token separator = next();
      if (separator.kind == TokenKind::CloseParen) return values;
      if (separator.kind != TokenKind::Comma) fail(separator, "expected ',' or ')', found " + describe(separator));
    }
  }

  Token peek() {
    if (!lookahead_) lookahead_ = scan();
    return *lookahead_;
  }

  Token next() {
    Token token = peek();
    lookahead_.reset();
    return token;
  }

  Token scan() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    std::size_t start = pos_;
    if (pos_ == text_.size()) return {TokenKind::End, {}, start};
    auto symbol = [&](TokenKind kind, std::size_t length) {
      pos_ += length;
      return Token{kind, text_.substr(start, length), start};
    };
    bool followed_by_equals = pos_ + 1 < text_.size() && text_[pos_ + 1] == '=';
    switch (text_[pos_]) {
      case ',': return symbol(TokenKind::Comma, 1);
      case '(': return symbol(TokenKind::OpenParen, 1);
      case ')': return symbol(TokenKind::CloseParen, 1);
      case '=': return followed_by_equals ? symbol(TokenKind::DoubleEquals, 2) : symbol(TokenKind::Equals, 1);
      case '!': return followed_by_equals ? symbol(TokenKind::NotEquals, 2) : symbol(TokenKind::Bang, 1);
      default: break;
    }
    auto special = [](char c) { return is_space(c) || c == ',' || c == '(' || c == ')' || c == '=' || c == '!'; };
    while (pos_ < text_.size() && !special(text_[pos_])) ++pos_;
    return {TokenKind::Identifier, text_.substr(start, pos_ - start), start};
  }

  [[noreturn]] void fail(const Token& token, const std::string& what) const {
    throw SelectorError(fmt::format("invalid label selector \"{}\", column {}: {}", text_, token.offset + 1, what));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::optional<Token> lookahead_;
};

[[noreturn]] void fail_json(const Json& selector, const std::string& what) {
  throw SelectorError(fmt::format("invalid label selector {}: {}", selector.dump(), what));
}

std::vector<std::string> expression_values(const Json& selector, const Json& expression, std::size_t index) {
  std::vector<std::string> values;
  auto it = expression.find("values");
  if (it == expression.end() || it->is_null()) return values;
  if (!it->is_array()) fail_json(selector, fmt::format("matchExpressions[{}].values must be a list of strings", index));
  for (const Json& value : *it) {
    if (!value.is_string()) fail_json(selector, fmt::format("matchExpressions[{}].values must be a list of strings", index));
    if (!is_label_value(value.get_ref<const std::string&>())) {
      fail_json(selector, fmt::format("matchExpressions[{}]: {}", index, bad_value_message(value.get_ref<const std::string&>())));
    }
    values.push_back(value.get<std::string>());
  }
  return values;
}

LabelRequirement expression_requirement(const Json& selector, const Json& expression, std::size_t index) {
  using Op = LabelRequirement::Op;
  if (!expression.is_object()) fail_json(selector, fmt::format("matchExpressions[{}] must be an object", index));
  auto key = expression.find("key");
  if (key == expression.end() || !key->is_string()) {
    fail_json(selector, fmt::format("matchExpressions[{}].key must be a string", index));
  }
  if (!is_label_key(key->get_ref<const std::string&>())) {
    fail_json(selector, fmt::format("matchExpressions[{}]: {}", index, bad_key_message(key->get_ref<const std::string&>())));
  }
  auto op = expression.find("operator");
  std::string op_name = op != expression.end() && op->is_string() ? op->get<std::string>() : std::string();
  std::vector<std::string> values = expression_values(selector, expression, index);
  Op kind;
  if (op_name == "In") kind = Op::In;
  else if (op_name == "NotIn") kind = Op::NotIn;
  else if (op_name == "Exists") kind = Op::Exists;
  else if (op_name == "DoesNotExist") kind = Op::DoesNotExist;
  else {
    fail_json(selector, fmt::format("matchExpressions[{}].operator must be In, NotIn, Exists or DoesNotExist, got {}",
                                    index, op == expression.end() ? std::string("nothing") : op->dump()));
  }
  bool takes_values = kind == Op::In || kind == Op::NotIn;
  if (takes_values && values.empty()) {
    fail_json(selector, fmt::format("matchExpressions[{}]: {} needs at least one value", index, op_name));
  }
  if (!takes_values && !values.empty()) {
    fail_json(selector, fmt::format("matchExpressions[{}]: {} takes no values", index, op_name));
  }
  return {key->get<std::string>(), kind, std::move(values)};
}

const Json* find_label(const Json& labels, std::string_view key) {
  if (!labels.is_object()) return nullptr;
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &*it;
}

bool label_equals(const Json* label, std::string_view value) {
  return label != nullptr && label->is_string() && label->get_ref<const std::string&>() == value;
}

bool label_in(const Json* label, const std::vector<std::string>& values) {
  return label != nullptr && label->is_string() &&
         std::ranges::find(values, label->get_ref<const std::string&>()) != values.end();
}

// nullptr when some step of the dotted path is missing.
const Json* find_field(const Json& object, std::string_view path) {
  const Json* node = &object;
  while (true) {
    auto dot = path.find('.');
    if (!node->is_object()) return nullptr;
    auto it = node->find(path.substr(0, dot));
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string_view::npos) return node;
    path.remove_prefix(dot + 1);
  }
}

// Same answer as field_value(...) == value, without building a string for every object of a scan.
bool field_equals(const Json* field, std::string_view value) {
  if (field == nullptr || field->is_null()) return value.empty();
  if (field->is_string()) return field->get_ref<const std::string&>() == value;
  return field->dump() == value;
}

// ---------------------------------------------------------------------------------------------------
// Field selectors: terms separated by unescaped commas.

class FieldSelectorParser {
 public:
  explicit FieldSelectorParser(std::string_view text) : text_(text) {}

  std::vector<FieldRequirement> parse() {
    std::vector<FieldRequirement> requirements;
    if (trim(text_).empty()) return requirements;
    std::size_t start = 0;
    while (true) {
      std::size_t end = unescaped_comma(start);
      requirements.push_back(parse_term(start, end));
      if (end == text_.size()) return requirements;
      start = end + 1;
    }
  }

 private:
  std::size_t unescaped_comma(std::size_t from) const {
    for (std::size_t i = from; i < text_.size(); ++i) {
      if (text_[i] == '\\') ++i;
      else if (text_[i] == ',') return i;
    }
    return text_.size();
  }

  FieldRequirement parse_term(std::size_t start, std::size_t end) {
    std::string_view term = text_.substr(start, end - start);
    if (trim(term).empty()) fail(start, "empty requirement");
    for (std::size_t i = 0; i < term.size(); ++i) {
      char c = term[i];
      if (c == '\\') {
        ++i;
        continue;
      }
      bool followed_by_equals = i + 1 < term.size() && term[i + 1] == '=';
      if (c == '=' || (c == '!' && followed_by_equals)) {
        std::size_t op_length = followed_by_equals ? 2 : 1;
        std::string path = parse_path(start, term.substr(0, i));
        std::string value = unescape(start + i + op_length, term.substr(i + op_length));
        return {std::move(path), c == '=', std::move(value)};
      }
    }
    fail(start, fmt::format("expected '=', '==' or '!=' in \"{}\"", trim(term)));
  }

  std::string parse_path(std::size_t offset, std::string_view raw) {
    std::string_view path = trim(raw);
    offset += static_cast<std::size_t>(path.data() - raw.data());
    if (path.empty()) fail(offset, "missing field path before the operator");
    bool valid = path.front() != '.' && path.back() != '.' && path.find("..") == std::string_view::npos &&
                 std::ranges::all_of(path, [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
    if (!valid) fail(offset, fmt::format("\"{}\" is not a field path (dot-separated names, like spec.nodeName)", path));
    return std::string(path);
  }

  std::string unescape(std::size_t offset, std::string_view raw) {
    std::string_view value = trim(raw);
    offset += static_cast<std::size_t>(value.data() - raw.data());
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i] != '\\') {
        out += value[i];
        continue;
      }
      if (i + 1 == value.size()) fail(offset + i, "'\\' at the end of a value escapes nothing");
      char escaped = value[++i];
      if (escaped != '\\' && escaped != ',' && escaped != '=' && escaped != '!') {
        fail(offset + i - 1, fmt::format("invalid escape '\\{}' (only \\\\, \\, \\= and \\! are allowed)", escaped));
      }
      out += escaped;
    }
    return out;
  }

  [[noreturn]] void fail(std::size_t offset, const std::string& what) const {
    throw SelectorError(fmt::format("invalid field selector \"{}\", column {}: {}", text_, offset + 1, what));
  }

  std::string_view text_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------

LabelSelector LabelSelector::parse(std::string_view text) {
  LabelSelector selector;
  selector.requirements_ = LabelSelectorParser(text).parse();
  return selector;
}

LabelSelector LabelSelector::from_json(const Json& label_selector) {
  LabelSelector selector;
  if (label_selector.is_null()) {
    selector.matches_nothing_ = true;
    return selector;
  }
  if (!label_selector.is_object()) fail_json(label_selector, "a label selector must be an object");
  if (auto labels = label_selector.find("matchLabels"); labels != label_selector.end() && !labels->is_null()) {
    if (!labels->is_object()) fail_json(label_selector, "matchLabels must be an object of strings");
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) fail_json(label_selector, fmt::format("matchLabels.{} must be a string", key));
      if (!is_label_key(key)) fail_json(label_selector, "matchLabels: " + bad_key_message(key));
      if (!is_label_value(value.get_ref<const std::string&>())) {
        fail_json(label_selector, "matchLabels: " + bad_value_message(value.get_ref<const std::string&>()));
      }
      selector.requirements_.push_back({key, LabelRequirement::Op::Equals, {value.get<std::string>()}});
    }
  }
  if (auto exprs = label_selector.find("matchExpressions"); exprs != label_selector.end() && !exprs->is_null()) {
    if (!exprs->is_array()) fail_json(label_selector, "matchExpressions must be a list");
    for (std::size_t i = 0; i < exprs->size(); ++i) {
      selector.requirements_.push_back(expression_requirement(label_selector, (*exprs)[i], i));
    }
  }
  return selector;
}

bool LabelSelector::matches(const Json& labels) const {
  if (matches_nothing_) return false;
  using Op = LabelRequirement::Op;
  return std::ranges::all_of(requirements_, [&](const LabelRequirement& req) {
    const Json* label = find_label(labels, req.key);
    switch (req.op) {
      case Op::Equals: return label_equals(label, req.values.front());
      case Op::NotEquals: return !label_equals(label, req.values.front());
      case Op::In: return label_in(label, req.values);
      case Op::NotIn: return !label_in(label, req.values);
      case Op::Exists: return label != nullptr;
      case Op::DoesNotExist: return label == nullptr;
    }
    return false;
  });
}

std::string LabelSelector::to_string() const {
  if (matches_nothing_) throw SelectorError("a label selector that matches nothing has no string form");
  std::string out;
  for (const LabelRequirement& req : requirements_) {
    if (!out.empty()) out += ',';
    switch (req.op) {
      case LabelRequirement::Op::Equals: out += fmt::format("{}={}", req.key, req.values.front()); break;
      case LabelRequirement::Op::NotEquals: out += fmt::format("{}!={}", req.key, req.values.front()); break;
      case LabelRequirement::Op::In: out += fmt::format("{} in ({})", req.key, fmt::join(req.values, ",")); break;
      case LabelRequirement::Op::NotIn: out += fmt::format("{} notin ({})", req.key, fmt::join(req.values, ",")); break;
      case LabelRequirement::Op::Exists: out += req.key; break;
      case LabelRequirement::Op::DoesNotExist: out += "!" + req.key; break;
    }
  }
  return out;
}

FieldSelector FieldSelector::parse(std::string_view text) {
  FieldSelector selector;
  selector.requirements_ = FieldSelectorParser(text).parse();
  return selector;
}

bool FieldSelector::matches(const Json& object) const {
  return std::ranges::all_of(requirements_, [&](const FieldRequirement& req) {
    return field_equals(find_field(object, req.path), req.value) == req.equals;
  });
}

std::optional<std::string_view> FieldSelector::required_value(std::string_view path) const {
  for (const FieldRequirement& req : requirements_) {
    if (req.equals && req.path == path) return req.value;
  }
  return std::nullopt;
}

std::string field_value(const Json& object, std::string_view path) {
  const Json* node = find_field(object, path);
  if (node == nullptr || node->is_null()) return {};
  if (node->is_string()) return node->get<std::string>();
  return node->dump();  // true/false, numbers; objects and lists only ever match their JSON text
}

}  // namespace refit

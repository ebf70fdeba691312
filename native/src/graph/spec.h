// A graph part as the executor holds it: nodes in topological order with decoded attributes, the
// names fed and returned at every run, and the initializers (host copies, uploaded by the executor).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor.h"

namespace qr {
namespace graph {

struct Attr {
  enum Kind { Num, Str, Nums, Tens } kind = Num;
  double num = 0;
  std::string str;
  std::vector<double> nums;
  Tensor tensor;  // host
};

struct Node {
  std::string op, name;
  std::vector<std::string> inputs, outputs;  // "" for an omitted optional input
  std::map<std::string, Attr> attrs;

  bool has(const char* k) const { return attrs.count(k) > 0; }
  int64_t i(const char* k, int64_t def) const;
  float f(const char* k, float def) const;
  std::string s(const char* k, const std::string& def) const;
  /** An int list attribute (empty when absent). */
  std::vector<int64_t> ints(const char* k) const;
  const Tensor* t(const char* k) const;
  /** "node 'name' (Op)" for messages. */
  std::string where() const;
};

struct Spec {
  std::vector<Node> nodes;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, Tensor> initializers;  // host tensors
};

}  // namespace graph
}  // namespace qr

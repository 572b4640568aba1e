// ingressctl trace / capture (worker/observe.h, docs/control-protocol.md "trace, capture").
#pragma once

#include <string>
#include <vector>

namespace ingress::ctl_tool {

// `args`: the words after the command. Returns the exit status (2: usage).
int cmd_trace(const std::string& sock, const std::vector<std::string>& args);
int cmd_capture(const std::string& sock, const std::vector<std::string>& args);

}  // namespace ingress::ctl_tool

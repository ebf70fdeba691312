#pragma once
inline void addIdeas(std::vector<Variant>& v) {}

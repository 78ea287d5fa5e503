#pragma once
// Reading the PyTorch fixtures' arrays: {"shape": [...], "data": [...]} row-major. JSON has no
// inf or NaN, so the scripts write those as the strings "inf", "-inf" and "nan".
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <xtensor/xarray.hpp>

#include <tapegrad/tapegrad.hpp>

namespace tgtest {

template <class T>
xt::xarray<T> load_array(const nlohmann::json& j) {
  tg::Shape shape;
  for (const auto& d : j.at("shape")) shape.push_back(d.get<std::size_t>());
  xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
  std::size_t i = 0;
  for (const auto& v : j.at("data")) a.data()[i++] = v.is_string() ? T(std::stod(v.get<std::string>())) : v.get<T>();
  return a;
}

}  // namespace tgtest

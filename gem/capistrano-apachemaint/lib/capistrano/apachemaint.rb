# Capfile: require "capistrano/apachemaint"
require "capistrano/apachemaint/version"
load File.expand_path("tasks/apachemaint.rake", __dir__)

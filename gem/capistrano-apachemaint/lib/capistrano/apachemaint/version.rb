module Capistrano
  module Apachemaint
    VERSION = "0.1.0".freeze
  end
end

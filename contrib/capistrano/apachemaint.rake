# apachemaint for Capistrano 3: maintenance mode on every web server at once.
#
#   cp apachemaint.rake lib/capistrano/tasks/   # the stock Capfile imports lib/capistrano/tasks/*.rake
#   cap production apachemaint:disable REASON="database upgrade" UNTIL="30m"
#   cap production apachemaint:status
#   cap production apachemaint:enable
#
# Settings (config/deploy.rb; a server's own property of the same name wins, e.g.
# `server "web1", roles: %w[web], apachemaint_docroot: "/srv/other/public"`):
#   apachemaint_roles       roles to act on                              default :web
#   apachemaint_command     how to run apachemaint on a server (shell words) default "apachemaint"
#   apachemaint_docroot     the site's DocumentRoot (down/up --docroot)   one of these two
#   apachemaint_vhost       a patched vhost file (down/up --vhost)        must be set
#   apachemaint_bypass      make a bypass token per server (down --bypass) default false
#   apachemaint_verify_url  URL each server checks after down/up (--verify) default none
#   apachemaint_reason      used when REASON is not in the environment    default ""
#   apachemaint_until       used when UNTIL is not in the environment     default none
#   apachemaint_on_failure  :keep or :lift, see below                     default :keep
#   apachemaint_wrap_migrate  put deploy:migrate between disable and enable  default false
#
# Every server runs apachemaint in parallel and every one runs to its end; only then does a
# failure on any of them fail the task (and so the deploy). What happens to the others:
#   disable failed somewhere  :keep leaves the servers where it worked in maintenance (run
#                             apachemaint:disable again once the failed one is fixed);
#                             :lift brings those servers back up, so the fleet is as before.
#   deploy:migrate failed     :keep leaves every server in maintenance (the schema may be half
#                             migrated); :lift brings every server back up.
#   enable failed somewhere   the others are up; nothing is put back down.
require "json"
require "shellwords"

module ApachemaintTasks
  extend Capistrano::DSL

  module_function

  # A server property beats the global setting, so one odd host needs no separate stage.
  def setting(host, key)
    value = host.properties.fetch(key)
    value.nil? ? fetch(key) : value
  end

  def command(host, *args)
    target =
      if (docroot = setting(host, :apachemaint_docroot))
        ["--docroot", docroot.to_s]
      elsif (vhost = setting(host, :apachemaint_vhost))
        ["--vhost", vhost.to_s]
      else
        raise ArgumentError, "set :apachemaint_docroot or :apachemaint_vhost"
      end
    # The command stays raw so users can write "sudo -u www-data /opt/venv/bin/apachemaint";
    # everything after it is escaped, since SSHKit itself joins arguments unquoted.
    "#{fetch(:apachemaint_command)} #{Shellwords.join([*args.map(&:to_s), *target])}"
  end

  def on_failure
    policy = fetch(:apachemaint_on_failure).to_sym
    return policy if %i[keep lift].include?(policy)

    raise ArgumentError, "apachemaint_on_failure must be :keep or :lift, not #{policy.inspect}"
  end

  # Runs the block on every server in parallel; returns {host => error} for the failed ones.
  # SSHKit's parallel runner re-raises the first error while other servers may still be
  # working, so errors are caught per server and reported after all have finished.
  def each_server(&block)
    failures = {}
    lock = Mutex.new
    on roles(*Array(fetch(:apachemaint_roles))), in: :parallel do |host|
      begin
        instance_exec(host, &block)
      rescue StandardError => e
        lock.synchronize { failures[host] = e }
      end
    end
    failures
  end

  def report(host, output, level = :info)
    output.to_s.each_line { |line| SSHKit.config.output.send(level, "#{host}: #{line.chomp}") }
  end

  def fail_with(action, failures, after = nil)
    failures.each { |host, error| report(host, error.message, :error) }
    names = failures.keys.map(&:to_s).sort.join(", ")
    raise "apachemaint #{action} failed on #{names}#{after ? "; #{after}" : ''}"
  end

  def down_args(host)
    args = ["down", "--reason", ENV.fetch("REASON", fetch(:apachemaint_reason).to_s)]
    (until_ = ENV["UNTIL"] || fetch(:apachemaint_until)) && args.push("--until", until_)
    args << "--bypass" if setting(host, :apachemaint_bypass)
    (url = setting(host, :apachemaint_verify_url)) && args.push("--verify", url)
    args
  end

  def up_args(host)
    (url = setting(host, :apachemaint_verify_url)) ? ["up", "--verify", url] : ["up"]
  end

  def disable
    policy = on_failure
    done = []
    lock = Mutex.new
    failures = each_server do |host|
      ApachemaintTasks.report(host, capture(ApachemaintTasks.command(host, *ApachemaintTasks.down_args(host))))
      lock.synchronize { done << host }
    end
    return if failures.empty?

    if policy == :lift && done.any?
      lifted = enable_on(done)
      fail_with("disable", failures, lifted.empty? ? "maintenance lifted on #{done.join(', ')}"
                                                  : "lifting failed too on #{lifted.keys.join(', ')}")
    end
    fail_with("disable", failures, done.any? ? "maintenance kept on #{done.join(', ')}" : nil)
  end

  def enable
    failures = enable_on(nil)
    fail_with("enable", failures) unless failures.empty?
  end

  # nil: every server of the roles; otherwise only these hosts.
  def enable_on(only)
    each_server do |host|
      next if only && only.none? { |h| h.matches?(host) }

      ApachemaintTasks.report(host, capture(ApachemaintTasks.command(host, *ApachemaintTasks.up_args(host))))
    end
  end

  def status
    states = {}
    lock = Mutex.new
    failures = each_server do |host|
      # 2>&1: on exit 2 the reason is on stderr, and capture keeps only stdout.
      out = capture("#{ApachemaintTasks.command(host, 'status', '--json')} 2>&1", raise_on_non_zero_exit: false)
      begin
        parsed = JSON.parse(out)
      rescue JSON::ParserError
        raise out
      end
      lock.synchronize { states[host] = Array(parsed.is_a?(Hash) ? [parsed] : parsed) }
    end
    states.sort_by { |host, _| host.to_s }.each do |host, pages|
      pages.each do |s|
        line = "#{s['maintenance'] ? 'DOWN' : 'up'} #{s['page']}"
        line += " since #{s['since']}" if s["since"]
        line += " (#{s['reason']})" unless s["reason"].to_s.empty?
        line += " until #{s['until']}" if s["until"]
        report(host, line)
      end
    end
    down = states.count { |_, pages| pages.any? { |s| s["maintenance"] } }
    if down.positive? && down < states.size
      SSHKit.config.output.warn("apachemaint: mixed fleet, #{down} of #{states.size} servers in maintenance")
    end
    fail_with("status", failures) unless failures.empty?
  end

  # Wraps every action deploy:migrate has at run time: actions are read this late because
  # capistrano-rails or config/deploy.rb may add them after this file is loaded.
  def wrap_migrate(task)
    inner = task.actions.dup
    task.clear_actions
    task.enhance do |t, args|
      disable
      begin
        inner.each { |action| action.call(t, args) }
      rescue Exception # an interrupted migration is a failed one too
        if on_failure == :lift
          lifted = enable_on(nil)
          SSHKit.config.output.error("apachemaint: migration failed; " +
            (lifted.empty? ? "maintenance lifted" : "lifting failed on #{lifted.keys.join(', ')}"))
        else
          SSHKit.config.output.error("apachemaint: migration failed; maintenance kept on")
        end
        raise
      end
      enable
    end
  end
end

namespace :load do
  task :defaults do
    set_if_empty :apachemaint_roles, :web
    set_if_empty :apachemaint_command, "apachemaint"
    set_if_empty :apachemaint_bypass, false
    set_if_empty :apachemaint_reason, ""
    set_if_empty :apachemaint_on_failure, :keep
    set_if_empty :apachemaint_wrap_migrate, false
  end
end

namespace :apachemaint do
  desc "Maintenance on, on every web server (REASON=... UNTIL=...)"
  task(:disable) { ApachemaintTasks.disable }

  desc "Maintenance off, on every web server"
  task(:enable) { ApachemaintTasks.enable }

  desc "Show which web servers are in maintenance"
  task(:status) { ApachemaintTasks.status }

  task :wrap_migrate do
    ApachemaintTasks.wrap_migrate(Rake::Task["deploy:migrate"]) if fetch(:apachemaint_wrap_migrate)
  end
end

# Defining deploy:migrate here is harmless when something else defines it too (Rake adds the
# actions up), and makes the hook independent of the order in which files are loaded.
namespace(:deploy) { task :migrate }
before "deploy:migrate", "apachemaint:wrap_migrate"

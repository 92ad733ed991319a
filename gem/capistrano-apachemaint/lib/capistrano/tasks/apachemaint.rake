# capistrano-apachemaint: apachemaint on every web server at once. See README.md for the settings.
require "json"
require "securerandom"
require "shellwords"
require "stringio"

module Capistrano
  module Apachemaint
    module Tasks
      extend Capistrano::DSL

      module_function

      # A server property beats the global setting, so one odd host needs no separate stage.
      def setting(host, key)
        value = host.properties.fetch(key)
        value.nil? ? fetch(key) : value
      end

      # stdin: a file on the server that the login shell feeds to apachemaint (`< FILE`).
      def command(host, *args, stdin: nil)
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
        line = "#{fetch(:apachemaint_command)} #{Shellwords.join([*args.map(&:to_s), *target])}"
        stdin ? "#{line} < #{Shellwords.escape(stdin)}" : line
      end

      def on_failure
        policy = fetch(:apachemaint_on_failure).to_sym
        return policy if %i[keep lift].include?(policy)

        raise ArgumentError, "apachemaint_on_failure must be :keep or :lift, not #{policy.inspect}"
      end

      def servers
        roles(*Array(fetch(:apachemaint_roles)))
      end

      # Runs the block on each of the hosts in parallel; returns {host => error} for the failed
      # ones. SSHKit's parallel runner re-raises the first error while other servers may still
      # be working, so errors are caught per server and reported after all have finished.
      def each_server(hosts = servers, &block)
        failures = {}
        lock = Mutex.new
        # The hosts a block was given carry their SSH connection, which Capistrano's `on`
        # cannot copy (Marshal): act on the configured servers of the same names instead.
        hosts = servers.select { |s| hosts.any? { |h| h.matches?(s) } }
        return failures if hosts.empty?

        on hosts, in: :parallel do |host|
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

      # --verify asks every name of every vhost behind the page; a verify URL asks just that one.
      def verify_args(host)
        args = []
        (url = setting(host, :apachemaint_verify_url)) && args.push("--verify-url", url.to_s)
        if setting(host, :apachemaint_verify) && !url
          args << "--verify"
          (config = setting(host, :apachemaint_verify_config)) && args.push("--config", config.to_s)
          (connect = setting(host, :apachemaint_verify_connect)) && args.push("--connect", connect.to_s)
        end
        args
      end

      def down_args(host)
        # REASON and UNTIL as capistrano-maintenance reads them.
        args = ["down", "--reason", ENV.fetch("REASON", fetch(:apachemaint_reason).to_s)]
        (until_ = ENV["UNTIL"] || fetch(:apachemaint_until)) && args.push("--until", until_.to_s)
        (template = setting(host, :maintenance_template_path)) && args.push("--template", template.to_s)
        # "en,de" or %w[en de]; the first is the default language.
        langs = Array(setting(host, :apachemaint_langs)).join(",")
        args.push("--langs", langs) unless langs.empty?
        args.push("--bypass-token-file", "-") if bypass_token(host)
        args + verify_args(host)
      end

      FLEET_TOKEN_LOCK = Mutex.new

      # One token for every server (and so one cookie behind a load balancer): the one set, else
      # with apachemaint_bypass a new one for this cap run, so each window gets its own.
      def bypass_token(host)
        token = setting(host, :apachemaint_bypass_token) || ENV["APACHEMAINT_BYPASS_TOKEN"]
        return token.to_s unless token.to_s.empty?
        return nil unless setting(host, :apachemaint_bypass)

        FLEET_TOKEN_LOCK.synchronize { @fleet_token ||= SecureRandom.urlsafe_base64(24) }
      end

      # Runs the block with the server-side path of a file holding the host's bypass token (nil
      # without one). The token travels in the SSH channel's data, to a 0600 file in a folder
      # of its own, and reaches apachemaint on stdin: never in a command line, which ps and
      # sudo's log show. The login shell opens the file, so a sudo in apachemaint_command needs
      # no env_keep and no rights to it. The folder goes when the block ends, failed or not.
      def with_token_file(backend, host)
        token = bypass_token(host)
        return yield(nil) unless token

        folder = backend.capture(:mktemp, "-d").strip
        begin
          backend.upload!(StringIO.new("#{token}\n"), "#{folder}/token", mode: 0o600)
          yield "#{folder}/token"
        ensure
          backend.execute(:rm, "-rf", "--", folder)
        end
      end

      def up_args(host)
        ["up", *verify_args(host)]
      end

      def down_on(hosts)
        done = []
        lock = Mutex.new
        failures = each_server(hosts) do |host|
          out = Tasks.with_token_file(self, host) { |file| capture(Tasks.command(host, *Tasks.down_args(host), stdin: file)) }
          Tasks.report(host, out)
          lock.synchronize { done << host }
        end
        # apachemaint does not echo a token it is given, so the one made for this run is shown
        # here, once for the fleet; a token from the settings is the user's already.
        if @fleet_token && done.any?
          SSHKit.config.output.info("apachemaint: this window's bypass token (every server): #{@fleet_token}")
        end
        [done, failures]
      end

      def up_on(hosts)
        each_server(hosts) do |host|
          Tasks.report(host, capture(Tasks.command(host, *Tasks.up_args(host))))
        end
      end

      def down
        policy = on_failure
        done, failures = down_on(servers)
        return if failures.empty?

        if policy == :lift && done.any?
          lifted = up_on(done)
          fail_with("down", failures, lifted.empty? ? "maintenance lifted on #{done.join(', ')}"
                                                    : "lifting failed too on #{lifted.keys.join(', ')}")
        end
        fail_with("down", failures, done.any? ? "maintenance kept on #{done.join(', ')}" : nil)
      end

      def up
        failures = up_on(servers)
        fail_with("up", failures) unless failures.empty?
      end

      # {host => [page state, ...]} from `status --json` (one object, or a list for many pages).
      # strict: false leaves out the hosts whose status fails instead of failing the task.
      def states(hosts = servers, strict: true)
        found = {}
        lock = Mutex.new
        failures = each_server(hosts) do |host|
          # 2>&1: on exit 2 the reason is on stderr, and capture keeps only stdout.
          out = capture("#{Tasks.command(host, 'status', '--json')} 2>&1", raise_on_non_zero_exit: false)
          begin
            parsed = JSON.parse(out)
          rescue JSON::ParserError
            raise out
          end
          lock.synchronize { found[host] = parsed.is_a?(Hash) ? [parsed] : Array(parsed) }
        end
        fail_with("status", failures) if strict && !failures.empty?
        found
      end

      def status
        found = states
        found.sort_by { |host, _| host.to_s }.each do |host, pages|
          pages.each do |s|
            line = "#{s['maintenance'] ? 'DOWN' : 'up'} #{s['page']}"
            line += " since #{s['since']}" if s["since"]
            line += " (#{s['reason']})" unless s["reason"].to_s.empty?
            line += " until #{s['until']}" if s["until"]
            report(host, line)
          end
        end
        down = found.count { |_, pages| pages.any? { |s| s["maintenance"] } }
        return unless down.positive? && down < found.size

        SSHKit.config.output.warn("apachemaint: mixed fleet, #{down} of #{found.size} servers in maintenance")
      end

      # --- the deploy hook -------------------------------------------------------------------
      # What the hook opened in this run: {host => the `since` of each page it put down}. A
      # server already down when the hook came is someone's window: the hook neither re-renders
      # it (that would blank its reason and end) nor lifts it.
      OPENED = {}
      OPENED_LOCK = Mutex.new

      def down_pages(pages)
        pages.select { |s| s["maintenance"] }.map { |s| s["since"] }
      end

      def hook_down
        return unless fetch(:apachemaint_during_migrations)
        return if fetch(:apachemaint_hook_ran)

        set :apachemaint_hook_ran, true
        before = states
        by_hand = before.select { |_, pages| down_pages(pages).any? }.keys
        by_hand.each { |host| report(host, "already in maintenance (not by this deploy): left as it is", :warn) }
        hosts = before.keys - by_hand
        done, failures = down_on(hosts)
        # A down that failed only at --verify has put its page in place all the same: that window
        # is this deploy's too, to be lifted on failure like the others.
        after = states(hosts, strict: false)
        OPENED_LOCK.synchronize { after.each { |host, pages| OPENED[host.to_s] = down_pages(pages) } }
        return if failures.empty?

        # The deploy stops here, before anything migrated: deploy:failed applies the policy.
        fail_with("down", failures, done.any? ? "maintenance on #{done.join(', ')}" : nil)
      end

      # The hosts whose window is still the one the hook opened (same `since`): a window
      # someone ended and reopened by hand meanwhile is theirs now.
      def still_ours
        opened = OPENED_LOCK.synchronize { OPENED.dup }
        return [] if opened.empty?

        hosts = servers.select { |h| opened.key?(h.to_s) }
        states(hosts).select { |host, pages| down_pages(pages) == opened[host.to_s] }.keys
      end

      def hook_up
        hosts = still_ours
        return if hosts.empty?

        failures = up_on(hosts)
        OPENED_LOCK.synchronize { OPENED.clear }
        fail_with("up", failures) unless failures.empty?
      end

      def hook_failed
        return if OPENED_LOCK.synchronize { OPENED.empty? }

        if on_failure == :lift
          failures = up_on(still_ours)
          OPENED_LOCK.synchronize { OPENED.clear }
          SSHKit.config.output.error("apachemaint: deploy failed; " +
            (failures.empty? ? "maintenance lifted" : "lifting failed on #{failures.keys.join(', ')}"))
        else
          SSHKit.config.output.error("apachemaint: deploy failed; maintenance kept on " \
                                     "(cap <stage> apachemaint:up when the site is sound)")
        end
      end
    end
  end
end

namespace :load do
  task :defaults do
    set_if_empty :apachemaint_roles, :web
    set_if_empty :apachemaint_command, "apachemaint"
    set_if_empty :apachemaint_bypass, false
    set_if_empty :apachemaint_verify, true
    set_if_empty :apachemaint_reason, ""
    set_if_empty :apachemaint_on_failure, :keep
    set_if_empty :apachemaint_during_migrations, false
  end
end

namespace :apachemaint do
  desc "Maintenance on, on every web server (REASON=... UNTIL=...); maintenance:enable in capistrano-maintenance"
  task(:down) { Capistrano::Apachemaint::Tasks.down }

  desc "Maintenance off, on every web server; maintenance:disable in capistrano-maintenance"
  task(:up) { Capistrano::Apachemaint::Tasks.up }

  desc "Show which web servers are in maintenance"
  task(:status) { Capistrano::Apachemaint::Tasks.status }

  namespace :hook do
    # Hooked at run time: capistrano-rails or config/deploy.rb may define deploy:migrate after
    # this file is loaded, and hooking a task nobody defines would fail (or define an empty one).
    task :install do
      Rake::Task["deploy:migrate"].enhance(["apachemaint:hook:before_migrate"]) if Rake::Task.task_defined?("deploy:migrate")
    end

    task(:before_migrate) { Capistrano::Apachemaint::Tasks.hook_down }

    # Where there is a deploy:migrate, its hook takes the site down instead.
    task :before_updated do
      Capistrano::Apachemaint::Tasks.hook_down unless Rake::Task.task_defined?("deploy:migrate")
    end

    task(:after_published) { Capistrano::Apachemaint::Tasks.hook_up }
    task(:after_failed) { Capistrano::Apachemaint::Tasks.hook_failed }
  end
end

before "deploy:starting", "apachemaint:hook:install"
before "deploy:updated", "apachemaint:hook:before_updated"
after "deploy:published", "apachemaint:hook:after_published"
after "deploy:failed", "apachemaint:hook:after_failed"

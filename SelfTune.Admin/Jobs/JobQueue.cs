using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Query;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;

namespace SelfTune.Admin.Jobs;

/// <summary>
/// The durable background queue (SPEC section 8) on the <c>Jobs</c> table.
/// </summary>
/// <remarks>
/// <para>
/// A singleton: it holds the in-process signals (wake-up of idle worker slots, completion of a job) and opens its own
/// short-lived contexts through <see cref="IDbContextFactory{TContext}"/>. <see cref="Enqueue"/> is the exception:
/// it adds to the caller's context so the job is stored in the same transaction as the caller's rows.
/// </para>
/// <para>
/// Claiming is one atomic SQL statement, so any number of processes on one SQLite file never claim the same job. On
/// PostgreSQL the same statement locks the row it picks (<c>FOR UPDATE SKIP LOCKED</c>): concurrent claims pass over
/// it instead of waiting, and one that meets a row claimed meanwhile re-checks it and leaves it.
/// A claim sets a lease (<see cref="JobOptions.Lease"/>) and counts an attempt; every later write by the claimant is
/// conditional on the claim (same <see cref="Job.LockedBy"/> and <see cref="Job.Attempts"/>, still Running), so a
/// worker whose lease was taken over cannot overwrite the new owner's outcome. Those methods return false then.
/// </para>
/// <para>
/// Jobs sharing a <see cref="Job.ConcurrencyKey"/> run one at a time and strictly in Id order: a job is not claimed
/// while an older job with its key is unfinished (Pending, including one waiting out a retry backoff or a future
/// NotBefore, or Running). So a retrying job holds back the newer jobs of its key until it succeeds or fails for good;
/// a Failed job no longer blocks its key.
/// </para>
/// <para>
/// A worker that dies leaves its jobs Running. Any instance takes them over once their lease has passed; an instance
/// restarted on the same machine takes them back at once (<see cref="TakeBackJobsOfDeadWorkersAsync"/>).
/// </para>
/// <para>
/// Wake-ups: <see cref="Notify"/> wakes one idle slot of this process per job (see there). On PostgreSQL a trigger on "Jobs" also raises
/// NOTIFY in the enqueueing transaction, and <see cref="PostgresNotifications"/> turns it into <see cref="NotifySpreading"/> on
/// every instance; elsewhere other processes find new jobs by polling (<see cref="JobOptions.PollInterval"/>).
/// The same trigger keeps the ids of one key's jobs in commit order (the migration JobQueueTriggers says why).
/// </para>
/// </remarks>
public sealed class JobQueue : IDisposable
{
    /// <summary>How often <see cref="WaitForCompletionAsync"/> looks at the database for a job run by another process.</summary>
    public static readonly TimeSpan CompletionPollInterval = TimeSpan.FromMilliseconds(250);

    const int MaxErrorLength = 4000;
    const int BusyRetries = 5;

    static readonly DateTimeOffsetToBinaryConverter TimeConverter = new();

    // A job j may be claimed now when it is due (Pending, NotBefore passed) or its run's lease has expired (Running), and
    // no other unfinished job of its key comes first: an older one (Pending, including one waiting out a backoff, or
    // Running), or one running under a live lease. The key's look-up reads only its unfinished jobs (the
    // (ConcurrencyKey, State) index), however much history the key has.
    const string Due = """(j."State" = 'Pending' AND j."NotBefore" <= @now)""";
    const string Expired = """(j."State" = 'Running' AND j."LockedUntil" < @now)""";
    const string KeyIsFree = """
        (j."ConcurrencyKey" IS NULL OR NOT EXISTS (
                SELECT 1 FROM "Jobs" AS r
                WHERE r."ConcurrencyKey" = j."ConcurrencyKey" AND r."State" IN ('Pending', 'Running') AND r."Id" <> j."Id"
                  AND (r."Id" < j."Id" OR (r."State" = 'Running' AND r."LockedUntil" >= @now))))
        """;

    // The oldest claimable job: the oldest due and the oldest expired job, each found by walking that state's jobs in Id
    // order on the (State, Id) index and stopping at the first whose key is free, then the older of the two.
    // SQLite: one query with "due OR expired" made it collect every unfinished job, test each one's key against every other
    // unfinished job, and sort them: with a backlog of 5,000 jobs a claim took 120 ms, holding the write lock; this takes
    // microseconds. PostgreSQL: with "due OR expired" it read both states' index entries into a bitmap, and a bitmap scan
    // visits the heap for every entry and never marks a dead one; each claim and completion leaves a dead entry under
    // Pending and one under Running until vacuum, so after a burst of 50,000 jobs every claim read them all again (7–10 ms,
    // the 6–9 ms claims of the benchmark's publish timeline after its ingest rounds). An ordered index scan stops at the
    // first live row and marks the dead entries it passes, so later claims skip them without the heap (1–3 ms after the
    // same burst, microseconds once vacuumed; the Jobs table's autovacuum settings, migration JobsAutovacuum, keep the
    // dead entries few). SKIP LOCKED passes over a row another claim holds; a row claimed and committed meanwhile is
    // re-checked against the UPDATE's WHERE (READ COMMITTED re-evaluation) and, now Running and leased, left alone. A key's
    // older job is seen by KeyIsFree whether it is still Pending or already Running, so order holds.
    // SQLite is held to the (State, Id) index the walk needs; on PostgreSQL each branch locks the row it found (FOR UPDATE
    // is not allowed on a UNION itself), and the one not claimed is let go when the claim's transaction ends, at once.
    static string Candidate(string indexedBy, string lockRow)
    {
        string Oldest(string state) =>
            $"""SELECT j."Id" FROM "Jobs" AS j {indexedBy} WHERE {state} AND {KeyIsFree} ORDER BY j."Id" LIMIT 1 {lockRow}""";
        return $"""SELECT c."Id" FROM (SELECT * FROM ({Oldest(Due)}) AS due UNION ALL SELECT * FROM ({Oldest(Expired)}) AS expired) AS c ORDER BY c."Id" LIMIT 1""";
    }

    static readonly string SqliteCandidate = Candidate("""INDEXED BY "IX_Jobs_State_Id" """, "");
    static readonly string PostgresCandidate = Candidate("", "FOR UPDATE SKIP LOCKED");

    static readonly string ClaimSql = Claim(SqliteCandidate);
    static readonly string PostgresClaimSql = Claim(PostgresCandidate);

    // SQLite only: whether any job is claimable, read before claiming (the claim's own test). The claim is an UPDATE,
    // and on SQLite even one that matches nothing takes the database's single write lock (and waits for it); a poll, or a
    // wake-up whose job another slot claimed first (completing its own, CompleteAndClaimNextAsync), finds nothing. A read
    // takes no write lock, so those slots leave the writer to ingest. A job committed just after this read is found by the next wake-up or poll, as
    // when a claim loses a race. (PostgreSQL's claim takes row locks only: nothing to save there.)
    static readonly string AnyRunnableSql = $"""SELECT EXISTS ({SqliteCandidate})""";

    // The outer WHERE repeats the state test: on PostgreSQL it is what re-evaluation checks (above).
    static string Claim(string candidate) => $$"""
        UPDATE "Jobs"
        SET "State" = 'Running', "LockedBy" = @worker, "LockedUntil" = @leaseEnd, "Attempts" = "Attempts" + 1
        WHERE "Id" = ({{candidate}})
          AND (("State" = 'Pending' AND "NotBefore" <= @now) OR ("State" = 'Running' AND "LockedUntil" < @now))
        RETURNING *
        """;

    // The WorkerIds of the queues alive in this process. Two hosts in one process (tests do it) share the pid, so a
    // claimant with this pid is only dead when it is not one of these.
    static readonly ConcurrentDictionary<string, byte> LiveWorkerIds = new();

    readonly IDbContextFactory<AdminDbContext> dbFactory;
    readonly TimeProvider time;
    readonly IOptionsMonitor<JobOptions> options;
    readonly ILogger<JobQueue> logger;

    /// <summary>For <see cref="Notify"/>: wake every idle slot (e.g. after listening for NOTIFYs again, when any number of jobs may be waiting).</summary>
    public const int EverySlot = int.MaxValue;

    // Wake-ups that stand for any number of jobs (a NOTIFY: one per transaction) and are passed on by a slot that finds a
    // job with one (NotifySpreading); at most one per slot.
    int spreading;

    // Wake-ups owed to idle slots: one per job stored, at most one per slot (a slot takes one before each look, so a
    // wake-up that comes while every slot is busy makes the next slot to go idle look again instead of being lost).
    readonly SemaphoreSlim wakeUps = new(0);
    static readonly AsyncLocal<DeferredWakeUps?> Deferred = new();
    readonly Lock waitersLock = new();
    readonly Dictionary<long, Waiter> waiters = [];

    public JobQueue(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider time, IOptionsMonitor<JobOptions> options, ILogger<JobQueue> logger)
    {
        this.dbFactory = dbFactory;
        this.time = time;
        this.options = options;
        this.logger = logger;
        WorkerId = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";
        LiveWorkerIds.TryAdd(WorkerId, 0);
    }

    /// <summary>This process's claimant name in <see cref="Job.LockedBy"/>: machine, process id and a random suffix.</summary>
    public string WorkerId { get; }

    /// <summary>The lease a claim or a renewal sets now (<see cref="JobOptions.Lease"/>, which may be reloaded).</summary>
    public TimeSpan Lease => options.CurrentValue.Lease;

    /// <summary>How often a running job's lease must be renewed to hold, from the same options as <see cref="Lease"/>.</summary>
    public TimeSpan RenewalInterval => options.CurrentValue.RenewalInterval;

    public void Dispose() => LiveWorkerIds.TryRemove(WorkerId, out _);

    // ---- Producers ----

    /// <summary>
    /// Adds a Pending job to <paramref name="db"/> without saving: the caller's SaveChanges stores it together with the
    /// caller's own rows, or not at all. The Id is known after that save. Local workers are woken when that context next
    /// saves successfully; <see cref="Notify"/> does the same explicitly. With an explicit transaction, call
    /// <see cref="Notify"/> after the commit (the save's wake-up comes before it; polling would find the job later).
    /// </summary>
    /// <param name="payload">Serialized with System.Text.Json web defaults; read back with <see cref="ReadPayload{T}"/>.</param>
    /// <param name="concurrencyKey">Jobs with the same key run one at a time, in Id order (e.g. "connection:{id}").</param>
    /// <param name="notBefore">Earliest start; now when null.</param>
    public Job Enqueue(AdminDbContext db, string kind, object payload, string? concurrencyKey = null, DateTimeOffset? notBefore = null, int maxAttempts = 5)
    {
        ArgumentNullException.ThrowIfNull(db);
        var job = NewJob(kind, payload, concurrencyKey, notBefore, maxAttempts);
        db.Jobs.Add(job);
        db.SavedChanges += WakeOnSave;
        return job;

        void WakeOnSave(object? sender, SavedChangesEventArgs e)
        {
            ((DbContext)sender!).SavedChanges -= WakeOnSave;
            if (Deferred.Value is not { } deferred || !deferred.Add(this, job)) Notify();
        }
    }

    /// <summary>
    /// Jobs stored by a job's handler (a webhook job's publishes) while this is in effect wake no slot when saved: the
    /// worker running the handler says how many slots to wake once it has recorded the outcome, and with a success claims
    /// the next job in that write (<see cref="CompleteAndClaimNextAsync"/>): on a quiet queue that is the job just stored,
    /// run in the same slot at once, without another slot waking to claim it in a write of its own while this one completes.
    /// </summary>
    /// <remarks>
    /// Only for a handler that stores jobs as its last step: the stored jobs wait for the handler to return. Flows with
    /// the async calls made after it (an <see cref="AsyncLocal{T}"/>); <see cref="DeferredWakeUps.Dispose"/> ends it, and
    /// <see cref="DeferredWakeUps.WakeFor"/> wakes the slots it held back.
    /// </remarks>
    public DeferredWakeUps DeferWakeUps() => Deferred.Value = new DeferredWakeUps(this);

    /// <summary>The jobs stored while <see cref="DeferWakeUps"/> was in effect.</summary>
    public sealed class DeferredWakeUps(JobQueue queue) : IDisposable
    {
        readonly List<Job> jobs = [];
        bool closed, woken;

        /// <summary>Whether the job's wake-up is held here; false once closed, or for another queue (it wakes at once then).</summary>
        internal bool Add(JobQueue owner, Job job)
        {
            lock (jobs)
            {
                if (closed || owner != queue) return false;
                jobs.Add(job);
                return true;
            }
        }

        /// <summary>
        /// Stops deferring: a job stored from here on (by the slot's own writes, or by work the handler started that
        /// outlives it) wakes a slot at once. The wake-ups held so far wait for <see cref="WakeFor"/>.
        /// </summary>
        public void Dispose()
        {
            lock (jobs) closed = true;
            if (Deferred.Value == this) Deferred.Value = null;
        }

        /// <summary>Wakes a slot for each job held, except <paramref name="claimed"/> (the slot's next job) when it is one of them; once.</summary>
        public void WakeFor(Job? claimed)
        {
            Dispose();
            int count;
            lock (jobs)
            {
                if (woken) return;
                woken = true;
                count = jobs.Count - (claimed is not null && jobs.Any(j => j.Id == claimed.Id) ? 1 : 0);
            }
            queue.Notify(count);
        }
    }

    /// <summary>
    /// A Pending job row as <see cref="Enqueue"/> stores it, for a writer that inserts it itself (the webhook ingest's
    /// group commit, <see cref="GitHub.Webhooks.DeliveryBatchWriter"/>); call <see cref="Notify"/> after its commit.
    /// </summary>
    public Job NewJob(string kind, object payload, string? concurrencyKey = null, DateTimeOffset? notBefore = null, int maxAttempts = 5)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);

        var now = time.GetUtcNow();
        return new Job
        {
            Kind = kind,
            Payload = JsonSerializer.Serialize(payload, payload.GetType(), JsonSerializerOptions.Web),
            ConcurrencyKey = concurrencyKey,
            State = JobState.Pending,
            MaxAttempts = maxAttempts,
            NotBefore = (notBefore ?? now).ToUniversalTime(),
            CreatedAt = now,
            TraceParent = System.Diagnostics.Activity.Current?.Id, // the job continues the trace that queued it
        };
    }

    /// <summary>The job's payload, deserialized with the same options <see cref="Enqueue"/> used.</summary>
    public T ReadPayload<T>(Job job) => job.ReadPayload<T>();

    /// <summary>
    /// Wakes <paramref name="slots"/> idle worker slots of this process (after the save that stored as many jobs;
    /// <see cref="EverySlot"/> when how many is not known); a wake-up for a slot that is not idle makes the next one to go
    /// idle look once more. Other processes find the job by polling, or on PostgreSQL through the NOTIFY its trigger raised.
    /// </summary>
    /// <remarks>
    /// One slot per job, not every idle slot: each woken slot looks for work, and on SQLite a look that claims takes the
    /// one write lock, so waking four slots for one job cost up to three writes that found nothing, queued behind ingest.
    /// A slot that finds a job by polling wakes one more (<see cref="JobWorker"/>), so a backlog found that way still
    /// spreads over every slot.
    /// </remarks>
    public void Notify(int slots = 1)
    {
        // A release that goes to a waiting slot leaves the count at 0, so the count alone does not bound the wake-ups.
        var most = Math.Max(1, options.CurrentValue.Workers);
        for (var i = 0; i < Math.Min(slots, most) && wakeUps.CurrentCount < most; i++) wakeUps.Release();
    }

    /// <summary>
    /// For a wake-up that stands for any number of jobs (a NOTIFY, one per committed transaction that stored or freed jobs):
    /// wakes one idle slot, and a slot woken so that finds a job wakes the next (<see cref="TakeSpreading"/>), so the jobs
    /// spread over the slots while there are any, and stop at the first look that finds none.
    /// </summary>
    /// <remarks>
    /// Not every idle slot: each woken slot claims, a write; on PostgreSQL every instance hears every transaction's NOTIFY,
    /// its own included (whose jobs its in-process wake-ups already sent slots to), and waking all four slots for each made
    /// three or four claims that found nothing per job stored or finished: 30-odd extra writes per publish, on the same
    /// two cores as the publish (the benchmark's PostgreSQL hand-offs took 6–20 ms each).
    /// </remarks>
    public void NotifySpreading()
    {
        var most = Math.Max(1, options.CurrentValue.Workers);
        int current;
        do current = Volatile.Read(ref spreading);
        while (current < most && Interlocked.CompareExchange(ref spreading, current + 1, current) != current);
        Notify();
    }

    /// <summary>Takes a wake-up of <see cref="NotifySpreading"/>, if one is owed: a woken slot that finds a job passes it on.</summary>
    public bool TakeSpreading()
    {
        int current;
        do
        {
            current = Volatile.Read(ref spreading);
            if (current == 0) return false;
        } while (Interlocked.CompareExchange(ref spreading, current - 1, current) != current);
        return true;
    }

    /// <summary>
    /// Waits for a wake-up from <see cref="Notify"/> (true) or <paramref name="timeout"/> (false; the poll). A wake-up that
    /// came while the slot was looking is taken at once, so none is missed between a look and this wait.
    /// </summary>
    public async Task<bool> WaitForWakeUpAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var woken = wakeUps.WaitAsync(cts.Token);
        await Task.WhenAny(woken, Task.Delay(timeout, time, cts.Token));
        await cts.CancelAsync(); // whichever did not end it
        await woken.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return woken.IsCompletedSuccessfully; // one taken just as the poll's time ran out counts as a wake-up too
    }

    /// <summary>
    /// Waits until the job is Succeeded or Failed and returns it as stored. Woken at once when this process finishes the
    /// job; otherwise the database is checked every <see cref="CompletionPollInterval"/>, so a job run by another
    /// instance is seen too.
    /// </summary>
    /// <exception cref="TimeoutException">The job did not finish within <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">No job has that id.</exception>
    public async Task<Job> WaitForCompletionAsync(long jobId, TimeSpan timeout, CancellationToken ct = default)
    {
        using var timeoutCts = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);
        var waiter = AddWaiter(jobId);
        try
        {
            while (true)
            {
                var job = await FindAsync(jobId, linked.Token) ?? throw new InvalidOperationException($"There is no job {jobId}.");
                if (job.State is JobState.Succeeded or JobState.Failed) return job;

                using var delayCts = CancellationTokenSource.CreateLinkedTokenSource(linked.Token);
                var delay = Task.Delay(CompletionPollInterval, time, delayCts.Token);
                await (waiter.Signal.Task.IsCompleted ? delay : Task.WhenAny(waiter.Signal.Task, delay)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                delayCts.Cancel();
                linked.Token.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (timeoutCts.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new TimeoutException($"Job {jobId} did not finish within {timeout}.");
        }
        finally
        {
            RemoveWaiter(jobId, waiter);
        }
    }

    /// <summary>The job as stored, or null.</summary>
    public async Task<Job?> FindAsync(long jobId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == jobId, ct);
    }

    // ---- Workers (used by JobWorker; public for tests and tools) ----

    /// <summary>
    /// Atomically claims the oldest runnable job for <see cref="WorkerId"/>: Running, leased until now + Lease,
    /// Attempts + 1. Null when nothing is runnable.
    /// </summary>
    public async Task<Job?> TryClaimAsync(CancellationToken ct = default)
    {
        var job = await WithBusyRetryAsync(async token =>
        {
            await using var db = await dbFactory.CreateDbContextAsync(token);
            var now = time.GetUtcNow();
            if (!db.Database.IsNpgsql() && !await AnyRunnableAsync(db, now, token)) return null;
            return await ClaimAsync(db, now, token);
        }, "claim", ct);
        SelfTuneTelemetry.JobLooks.Add(1, new KeyValuePair<string, object?>("found", job is not null), new KeyValuePair<string, object?>("worker", WorkerId));
        return job;
    }

    /// <summary>
    /// Marks a held job Succeeded, as <see cref="CompleteAsync"/> does, and claims the next runnable job, as
    /// <see cref="TryClaimAsync"/> does, in one transaction: a worker slot that goes on to its next job takes the
    /// database's write lock once between two jobs instead of twice (on SQLite the one writer is what ingest and every
    /// slot share). Completed is false (and nothing completed) if the claim on <paramref name="claimed"/> was lost; the
    /// next job is claimed either way, null when none is runnable.
    /// </summary>
    public async Task<(bool Completed, Job? Next)> CompleteAndClaimNextAsync(Job claimed, string? result, CancellationToken ct = default)
    {
        var (completed, next) = await WithBusyRetryAsync(async token =>
        {
            await using var db = await dbFactory.CreateDbContextAsync(token);
            await using var transaction = await db.Database.BeginTransactionAsync(token);
            var outcome = await CompleteAndClaimNextAsync(db, claimed, result, token);
            await transaction.CommitAsync(token);
            return outcome;
        }, "complete and claim", ct);
        if (completed) SignalFinished(claimed.Id);
        return (completed, next);
    }

    /// <summary>
    /// A handler's last write and its job's completion in one transaction (<see cref="JobRun.SaveAndCompleteAsync"/>):
    /// saves <paramref name="db"/>'s changes, marks <paramref name="claimed"/> Succeeded and claims the slot's next job, as
    /// <see cref="CompleteAndClaimNextAsync(Job, string?, CancellationToken)"/> does. When the claim on the job was lost
    /// nothing is kept (the changes, the completion, the next claim): the job's new owner runs it.
    /// </summary>
    public async Task<(bool Completed, Job? Next)> SaveAndCompleteAsync(AdminDbContext db, Job claimed, string? result, CancellationToken ct)
    {
        // No savepoint around the save: EF sets one when it saves inside a transaction, to undo a failed save alone, and
        // here a failure undoes the whole transaction anyway. On PostgreSQL each savepoint was two more round trips per job.
        var savepoints = db.Database.AutoSavepointsEnabled;
        db.Database.AutoSavepointsEnabled = false;
        (bool Completed, Job? Next) outcome;
        try
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            await db.SaveChangesAsync(ct);
            // Not cancellable from here (as a claim elsewhere): a commit abandoned half-way could be committed by the server
            // with the run not knowing, and the next job it claimed would sit until its lease expires.
            outcome = await CompleteAndClaimNextAsync(db, claimed, result, CancellationToken.None);
            if (outcome.Completed) await transaction.CommitAsync(CancellationToken.None);
            else await transaction.RollbackAsync(CancellationToken.None);
        }
        finally
        {
            db.Database.AutoSavepointsEnabled = savepoints;
        }
        if (!outcome.Completed) return (false, null);
        SignalFinished(claimed.Id);
        return outcome;
    }

    async Task<(bool Completed, Job? Next)> CompleteAndClaimNextAsync(AdminDbContext db, Job claimed, string? result, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var done = await Fenced(db, claimed).ExecuteUpdateAsync(Succeeded(result, now), ct) == 1;
        return (done, await ClaimAsync(db, now, ct));
    }

    /// <summary>The claim statement (see <see cref="ClaimSql"/>) on <paramref name="db"/>: the claimed job, or null.</summary>
    async Task<Job?> ClaimAsync(AdminDbContext db, DateTimeOffset now, CancellationToken ct)
    {
        var leaseEnd = now + options.CurrentValue.Lease;
        var claim = db.Database.IsNpgsql()
            ? db.Jobs.FromSqlRaw(PostgresClaimSql,
                new NpgsqlParameter("worker", WorkerId),
                new NpgsqlParameter("now", now.ToUniversalTime()),
                new NpgsqlParameter("leaseEnd", leaseEnd.ToUniversalTime()))
            : db.Jobs.FromSqlRaw(ClaimSql,
                new SqliteParameter("@worker", WorkerId),
                new SqliteParameter("@now", ToDb(now)),
                new SqliteParameter("@leaseEnd", ToDb(leaseEnd)));
        return (await claim.TagWith(PreparedStatements.Tag).AsNoTracking().ToListAsync(ct)).SingleOrDefault();
    }

    static async Task<bool> AnyRunnableAsync(AdminDbContext db, DateTimeOffset now, CancellationToken ct)
    {
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = AnyRunnableSql;
        command.Parameters.Add(new SqliteParameter("@now", ToDb(now)));
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct)) != 0;
    }

    /// <summary>Extends the lease of a job this worker holds. False if the claim was lost (taken over or finished).</summary>
    public async Task<bool> RenewLeaseAsync(Job claimed, CancellationToken ct = default)
    {
        var leaseEnd = time.GetUtcNow() + options.CurrentValue.Lease;
        return await UpdateClaimedAsync(claimed, s => s.SetProperty(j => j.LockedUntil, leaseEnd), "renew", ct) == 1;
    }

    /// <summary>Marks a held job Succeeded with <paramref name="result"/>. False (and nothing written) if the claim was lost.</summary>
    public async Task<bool> CompleteAsync(Job claimed, string? result, CancellationToken ct = default)
    {
        var done = await UpdateClaimedAsync(claimed, Succeeded(result, time.GetUtcNow()), "complete", ct) == 1;
        if (done) SignalFinished(claimed.Id);
        return done;
    }

    /// <summary>Marks a held job Failed for good. False (and nothing written) if the claim was lost.</summary>
    public async Task<bool> FailAsync(Job claimed, string error, CancellationToken ct = default)
    {
        var now = time.GetUtcNow();
        var lastError = Truncate(error);
        var done = await UpdateClaimedAsync(claimed, s => s
            .SetProperty(j => j.State, JobState.Failed)
            .SetProperty(j => j.LastError, lastError)
            .SetProperty(j => j.FinishedAt, now)
            .SetProperty(j => j.LockedUntil, (DateTimeOffset?)null), "fail", ct) == 1;
        if (done) SignalFinished(claimed.Id);
        return done;
    }

    /// <summary>Puts a held job back to Pending until <paramref name="notBefore"/>, recording the error. False if the claim was lost.</summary>
    public async Task<bool> RetryLaterAsync(Job claimed, string error, DateTimeOffset notBefore, CancellationToken ct = default)
    {
        var lastError = Truncate(error);
        var due = notBefore.ToUniversalTime();
        return await UpdateClaimedAsync(claimed, s => s
            .SetProperty(j => j.State, JobState.Pending)
            .SetProperty(j => j.LastError, lastError)
            .SetProperty(j => j.NotBefore, due)
            .SetProperty(j => j.LockedBy, (string?)null)
            .SetProperty(j => j.LockedUntil, (DateTimeOffset?)null), "retry", ct) == 1;
    }

    /// <summary>
    /// Gives a held job back unfinished (the worker is shutting down): Pending, due now, and the attempt not counted.
    /// False if the claim was lost.
    /// </summary>
    public async Task<bool> ReleaseAsync(Job claimed, CancellationToken ct = default)
    {
        var now = time.GetUtcNow();
        return await UpdateClaimedAsync(claimed, s => s
            .SetProperty(j => j.State, JobState.Pending)
            .SetProperty(j => j.NotBefore, now)
            .SetProperty(j => j.Attempts, j => j.Attempts - 1)
            .SetProperty(j => j.LockedBy, (string?)null)
            .SetProperty(j => j.LockedUntil, (DateTimeOffset?)null), "release", ct) == 1;
    }

    /// <summary>
    /// Gives back at once the Running jobs of workers on this machine whose process is gone (Pending, due now), instead of
    /// leaving them to wait out their lease. Call it when a worker starts: after a crash and restart, the jobs the crashed
    /// process held run again right away. Returns how many jobs were given back.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A claimant (<c>machine:pid:suffix</c>) is dead when it names this machine and either this process's pid with another
    /// suffix that is no live queue here (a container restarted with the same pid), or a pid with no running process. A
    /// pid that is running is taken as alive even if it was reused by another program: those jobs wait for their lease,
    /// as they would without this. Only the pid namespace of this process is seen, so instances sharing a database file
    /// must have distinct machine names (as containers do by default).
    /// </para>
    /// <para>
    /// The abandoned attempt still counts: a job that kills its process every time reaches MaxAttempts, and the claim
    /// after that fails it (see <see cref="JobWorker"/>) instead of crash-looping.
    /// </para>
    /// </remarks>
    public async Task<int> TakeBackJobsOfDeadWorkersAsync(CancellationToken ct = default)
    {
        var prefix = Environment.MachineName + ":";
        var claimants = await WithBusyRetryAsync(async token =>
        {
            await using var db = await dbFactory.CreateDbContextAsync(token);
            return await db.Jobs.AsNoTracking()
                .Where(j => j.State == JobState.Running && j.LockedBy != null && j.LockedBy.StartsWith(prefix))
                .Select(j => j.LockedBy!)
                .Distinct()
                .ToListAsync(token);
        }, "find dead workers", ct);
        var dead = claimants.Where(IsDeadClaimantOnThisMachine).ToList();
        if (dead.Count == 0) return 0;

        // One statement, fenced on the claimant: only jobs still Running under a dead claimant's name. A dead worker
        // writes nothing more and a takeover renames the claimant, so a job another worker took over since the look-up
        // is left alone, and no job is given back twice. Attempts is kept (the abandoned run counts), LastError too.
        var now = time.GetUtcNow();
        var given = await WithBusyRetryAsync(async token =>
        {
            await using var db = await dbFactory.CreateDbContextAsync(token);
            return await db.Jobs
                .Where(j => j.State == JobState.Running && dead.Contains(j.LockedBy!))
                .ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.State, JobState.Pending)
                    .SetProperty(j => j.NotBefore, now)
                    .SetProperty(j => j.LockedBy, (string?)null)
                    .SetProperty(j => j.LockedUntil, (DateTimeOffset?)null), token);
        }, "take back", ct);
        if (given > 0)
        {
            logger.LogWarning("Took back {Count} running job(s) of dead worker(s) {DeadWorkers} on this machine; they run again now",
                given, string.Join(", ", dead));
            Notify(given);
        }
        return given;
    }

    bool IsDeadClaimantOnThisMachine(string lockedBy)
    {
        // machine:pid:suffix, read from the right (the suffix and pid have no ':').
        var suffixColon = lockedBy.LastIndexOf(':');
        var pidColon = suffixColon > 0 ? lockedBy.LastIndexOf(':', suffixColon - 1) : -1;
        if (pidColon < 0
            || !lockedBy.AsSpan(0, pidColon).SequenceEqual(Environment.MachineName)
            || !int.TryParse(lockedBy.AsSpan(pidColon + 1, suffixColon - pidColon - 1), out var pid))
            return false;
        if (pid == Environment.ProcessId) return !LiveWorkerIds.ContainsKey(lockedBy);
        try
        {
            using var process = Process.GetProcessById(pid);
            return false; // running (possibly another program that reused the pid: then the lease decides)
        }
        catch (ArgumentException)
        {
            return true; // no process has this pid
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return false; // cannot tell: leave it to the lease
        }
    }

    // ---- Internals ----

    Task<int> UpdateClaimedAsync(Job claimed, Action<UpdateSettersBuilder<Job>> set, string operation, CancellationToken ct) =>
        WithBusyRetryAsync(async token =>
        {
            await using var db = await dbFactory.CreateDbContextAsync(token);
            return await Fenced(db, claimed).ExecuteUpdateAsync(set, token);
        }, operation, ct);

    /// <summary>The job as long as <paramref name="claimed"/>'s claim holds: same claimant and same attempt (a takeover always bumps Attempts), still Running.</summary>
    static IQueryable<Job> Fenced(AdminDbContext db, Job claimed)
    {
        var (id, lockedBy, attempts) = (claimed.Id, claimed.LockedBy, claimed.Attempts);
        return db.Jobs.Where(j => j.Id == id && j.State == JobState.Running && j.LockedBy == lockedBy && j.Attempts == attempts);
    }

    static Action<UpdateSettersBuilder<Job>> Succeeded(string? result, DateTimeOffset now) => s => s
        .SetProperty(j => j.State, JobState.Succeeded)
        .SetProperty(j => j.Result, result)
        .SetProperty(j => j.FinishedAt, now)
        .SetProperty(j => j.LockedUntil, (DateTimeOffset?)null);

    async Task<T> WithBusyRetryAsync<T>(Func<CancellationToken, Task<T>> operation, string name, CancellationToken ct)
    {
        // Microsoft.Data.Sqlite already waits out a busy database for the connection's Default Timeout; this covers
        // what still surfaces (e.g. a WAL snapshot conflict) with a few short, jittered retries.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await operation(ct);
            }
            catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 && attempt < BusyRetries) // SQLITE_BUSY, SQLITE_LOCKED
            {
                logger.LogDebug(e, "Job queue {Operation}: database busy, retry {Attempt}", name, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(10, 50) * attempt), time, ct);
            }
        }
    }

    static long ToDb(DateTimeOffset value) => (long)TimeConverter.ConvertToProvider(value.ToUniversalTime())!;

    static string Truncate(string error) => error.Length <= MaxErrorLength ? error : error[..MaxErrorLength];

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    sealed class Waiter
    {
        public readonly TaskCompletionSource Signal = NewSignal();
        public int Count;
    }

    Waiter AddWaiter(long jobId)
    {
        lock (waitersLock)
        {
            if (!waiters.TryGetValue(jobId, out var waiter)) waiters[jobId] = waiter = new Waiter();
            waiter.Count++;
            return waiter;
        }
    }

    void RemoveWaiter(long jobId, Waiter waiter)
    {
        lock (waitersLock)
        {
            if (--waiter.Count == 0 && waiters.TryGetValue(jobId, out var current) && current == waiter) waiters.Remove(jobId);
        }
    }

    void SignalFinished(long jobId)
    {
        Waiter? waiter;
        lock (waitersLock)
        {
            if (!waiters.Remove(jobId, out waiter)) return;
        }
        waiter.Signal.TrySetResult();
    }
}

public static class JobPayloadExtensions
{
    /// <summary>The job's payload, deserialized with System.Text.Json web defaults (as <see cref="JobQueue.Enqueue"/> wrote it).</summary>
    public static T ReadPayload<T>(this Job job) =>
        JsonSerializer.Deserialize<T>(job.Payload, JsonSerializerOptions.Web)
        ?? throw new PermanentJobFailure($"Job {job.Id} ({job.Kind}) has a null payload.");
}

using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <summary>
    /// What the job queue needs of PostgreSQL beyond the tables (see JobQueue):
    /// <list type="bullet">
    /// <item>Keyed jobs get their Id under a transaction lock on their key, so jobs of one key commit in Id order. Without
    /// it, two transactions enqueueing for one connection could commit in the reverse order of their ids, and a worker
    /// could claim the newer job before the older one is even visible. (SQLite serializes all writers, so there it holds.)</item>
    /// <item>A job that may have become claimable (stored Pending, put back Pending, or a keyed job finished, which frees its
    /// key's next job) raises NOTIFY selftune_jobs in the writing transaction: delivered on commit, it wakes every
    /// instance's idle workers. Claims and lease renewals (Running) raise nothing.</item>
    /// </list>
    /// </summary>
    public partial class JobQueueTriggers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE FUNCTION selftune_jobs_key_order() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW."ConcurrencyKey" IS NOT NULL THEN
                        PERFORM pg_advisory_xact_lock(hashtextextended(NEW."ConcurrencyKey", 0));
                        NEW."Id" := nextval(pg_get_serial_sequence('"Jobs"', 'Id'));
                    END IF;
                    RETURN NEW;
                END $$;

                CREATE TRIGGER jobs_key_order BEFORE INSERT ON "Jobs"
                    FOR EACH ROW EXECUTE FUNCTION selftune_jobs_key_order();

                CREATE FUNCTION selftune_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('selftune_jobs', '');
                    RETURN NULL;
                END $$;

                CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF "State" ON "Jobs"
                    FOR EACH ROW
                    WHEN (NEW."State" = 'Pending' OR (NEW."ConcurrencyKey" IS NOT NULL AND NEW."State" IN ('Succeeded', 'Failed')))
                    EXECUTE FUNCTION selftune_jobs_notify();
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TRIGGER jobs_notify ON "Jobs";
                DROP FUNCTION selftune_jobs_notify();
                DROP TRIGGER jobs_key_order ON "Jobs";
                DROP FUNCTION selftune_jobs_key_order();
                """);
        }
    }
}

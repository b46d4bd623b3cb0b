using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SelfTune.Admin.Audit;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>
/// Issue 10: the operators of a deployment list every org, change plans and suspend orgs; a change applies to the org's
/// API keys on their next call and is in the org's audit log. Sign-in decides who is an operator.
/// </summary>
public sealed class OperatorTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
    static ClaimsPrincipal Person(bool isOperator, string name = "Olivia Operator")
    {
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(SelfTuneClaims.ActorId, Guid.NewGuid().ToString())], "test");
        if (isOperator) identity.AddClaim(new Claim(SelfTuneClaims.Operator, "true"));
        return new ClaimsPrincipal(identity);
    }

    static readonly ClaimsPrincipal Operator = Person(isOperator: true);

    async Task<T> WithOperatorsAsync<T>(Func<OperatorService, Task<T>> work)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<OperatorService>());
    }

    Task WithOperatorsAsync(Func<OperatorService, Task> work) => WithOperatorsAsync(async s => { await work(s); return true; });

    Task<List<AuditEntry>> AuditOfAsync(Guid orgId) =>
        app.WithDbAsync(db => db.AuditEntries.AsNoTracking().Where(e => e.OrgId == orgId).ToListAsync());

    [Fact]
    public async Task A_person_who_is_not_an_operator_is_refused_everything()
    {
        var (orgId, _) = await app.CreateOrgAsync(Plan.Free);
        var member = Person(isOperator: false, "Owner Of Some Org");

        foreach (var call in new Func<OperatorService, Task>[]
                 {
                     s => s.ListOrgsAsync(member),
                     s => s.ChangePlanAsync(member, orgId, Plan.Enterprise),
                     s => s.SuspendAsync(member, orgId, "no"),
                     s => s.UnsuspendAsync(member, orgId),
                 })
        {
            var refusal = await Assert.ThrowsAsync<ProblemException>(() => WithOperatorsAsync(call));
            Assert.Equal(403, refusal.Status);
        }
        Assert.Equal(Plan.Free, await app.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).Select(o => o.Plan).SingleAsync()));
        Assert.Empty(await AuditOfAsync(orgId));
    }

    [Fact]
    public async Task The_list_shows_every_org_with_its_plan_members_owners_and_usage()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Free);
        await app.WithDbAsync(db =>
        {
            db.Members.Add(new Member { OrgId = orgId, Subject = "t|" + Guid.NewGuid(), Name = "Olga Owner", Email = "olga@example.test", Role = MemberRole.Owner });
            db.Members.Add(new Member { OrgId = orgId, Subject = "t|" + Guid.NewGuid(), Name = "Vic Viewer", Role = MemberRole.Viewer });
            return db.SaveChangesAsync();
        });
        using var api = app.CreateClient(key);
        var entry = await CreateEntryAsync(api, UniqueName());
        var archive = SkillArchive();
        await PushAsync(api, entry.GetProperty("id").GetString()!, "1.0.0", archive);

        var orgs = await WithOperatorsAsync(s => s.ListOrgsAsync(Operator));

        Assert.Contains(orgs, o => o.Slug == "acme" && o.Plan == Plan.Pro);
        var org = Assert.Single(orgs, o => o.Id == orgId);
        Assert.Equal(Plan.Free, org.Plan);
        Assert.Equal(2, org.MemberCount);
        Assert.Equal(["Olga Owner <olga@example.test>"], org.Owners);
        Assert.Equal((1, 1, 0), (org.Entries, org.Versions, org.Connections));
        Assert.Equal(archive.Length, org.ArchiveBytes);
        Assert.NotNull(org.LastPublishAt);
        Assert.False(org.IsSuspended);
    }

    [Fact]
    public async Task A_plan_change_is_in_the_audit_log_and_applies_to_the_orgs_key_on_its_next_call()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Free);
        using var api = app.CreateClient(key);
        await ExpectProblemAsync(await api.GetAsync("/api/v1/github/settings"), HttpStatusCode.PaymentRequired, "plan_required");

        await WithOperatorsAsync(s => s.ChangePlanAsync(Operator, orgId, Plan.Pro));

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/github/settings")).StatusCode);
        var entry = Assert.Single(await AuditOfAsync(orgId));
        Assert.Equal(("org.plan_change", AuditActorKind.Operator, "Olivia Operator"), (entry.Action, entry.ActorKind, entry.ActorName));
        Assert.Equal(AuditLog.Changed("plan", Plan.Free, Plan.Pro), entry.Summary);
        Assert.Equal("plan: free → pro", entry.Summary);
    }

    [Fact]
    public async Task A_suspended_orgs_key_reads_but_cannot_change_until_the_suspension_is_lifted()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Pro);
        using var api = app.CreateClient(key);
        var name = UniqueName();
        var entry = await CreateEntryAsync(api, name, visibility: "public");
        var id = entry.GetProperty("id").GetString()!;

        await WithOperatorsAsync(s => s.SuspendAsync(Operator, orgId, "Unpaid invoice"));

        var refusal = await ExpectProblemAsync(await api.PostAsJsonAsync("/api/v1/registry", new { name = UniqueName() }), HttpStatusCode.Forbidden, "org_suspended");
        var detail = refusal.GetProperty("detail").GetString()!;
        Assert.Contains("Unpaid invoice", detail);
        Assert.Contains("operator", detail);
        await ExpectProblemAsync(await api.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "1.0.0" }, SkillArchive())),
            HttpStatusCode.Forbidden, "org_suspended");
        await ExpectProblemAsync(await api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = "off" }), HttpStatusCode.Forbidden, "org_suspended");
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync($"/api/v1/registry/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/github/settings")).StatusCode);
        // Its public entries stay readable by anyone: the registry's consumers are not the ones being suspended.
        Assert.Contains(name, await app.CreateClient((string?)null).GetStringAsync("/api/v1/public/registry"));

        await WithOperatorsAsync(s => s.UnsuspendAsync(Operator, orgId));

        await PushAsync(api, id, "1.0.0", SkillArchive());
        Assert.Equal(["org.suspend", "org.unsuspend"], (await AuditOfAsync(orgId)).OrderBy(e => e.At).Select(e => e.Action));
    }

    [Fact]
    public async Task A_suspended_orgs_signed_in_member_is_refused_changes_by_the_services()
    {
        var (orgId, _) = await app.CreateOrgAsync(Plan.Pro);
        var owner = new Member { OrgId = orgId, Subject = "t|" + Guid.NewGuid(), Name = "Sam Owner", Role = MemberRole.Owner };
        await app.WithDbAsync(db => { db.Members.Add(owner); return db.SaveChangesAsync(); });
        await WithOperatorsAsync(s => s.SuspendAsync(Operator, orgId, "Abuse report 42"));

        await using var scope = app.Services.CreateAsyncScope();
        // The identity the sign-in cookie carries, as the cookie's periodic re-read builds it.
        var identity = await scope.ServiceProvider.GetRequiredService<MemberDirectory>()
            .RefreshAsync(owner.Id, new ClaimsPrincipal(), CookieAuthenticationDefaults.AuthenticationScheme);
        var user = new ClaimsPrincipal(identity!);
        var refusal = await Assert.ThrowsAsync<ProblemException>(() => scope.ServiceProvider.GetRequiredService<ApiKeyService>()
            .CreateAsync(user, "ci", [SelfTuneClaims.RegistryRead], null));

        Assert.Equal((403, "org_suspended"), (refusal.Status, refusal.Code));
        Assert.Contains("Abuse report 42", refusal.Message);
        Assert.DoesNotContain("Only", refusal.Message); // an owner is never told that only admins and owners can do it
        // Only the key the test org was made with: nothing was created, and reading still works.
        Assert.Single(await scope.ServiceProvider.GetRequiredService<ApiKeyService>().ListAsync(user));
    }

    [Fact]
    public async Task A_suspension_needs_a_reason()
    {
        var (orgId, _) = await app.CreateOrgAsync(Plan.Pro);

        var refusal = await Assert.ThrowsAsync<ProblemException>(() => WithOperatorsAsync(s => s.SuspendAsync(Operator, orgId, "  ")));

        Assert.Equal(400, refusal.Status);
        Assert.Null(await app.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).Select(o => o.SuspendedAt).SingleAsync()));
    }

    // Sign-in: who is an operator.

    async Task<bool> SignsInAsOperatorAsync(TenancySettings tenancy, string subject, string? email, bool emailVerified, params string[] roles)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var directory = new MemberDirectory(scope.ServiceProvider.GetRequiredService<AdminDbContext>(), TimeProvider.System, Options.Create(tenancy));
        var identity = await directory.SignInAsync(new ExternalIdentity("https://idp.test", subject, "Someone", email, emailVerified, roles),
            CookieAuthenticationDefaults.AuthenticationScheme);
        return new ClaimsPrincipal(identity).IsOperator();
    }

    static string NewSubject() => "sub-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Sign_in_with_the_operator_role_claim_makes_an_operator()
    {
        var tenancy = new TenancySettings { OperatorRole = "selftune-operator" };

        Assert.True(await SignsInAsOperatorAsync(tenancy, NewSubject(), null, false, "staff", "selftune-operator"));
        Assert.False(await SignsInAsOperatorAsync(tenancy, NewSubject(), null, false, "staff"));
        Assert.False(await SignsInAsOperatorAsync(new TenancySettings(), NewSubject(), null, false, "selftune-operator")); // no role configured
    }

    [Fact]
    public async Task Sign_in_as_a_listed_subject_makes_an_operator()
    {
        var subject = NewSubject();
        var tenancy = new TenancySettings { Operators = [subject] };

        Assert.True(await SignsInAsOperatorAsync(tenancy, subject, null, false));
        Assert.False(await SignsInAsOperatorAsync(tenancy, NewSubject(), null, false));
    }

    [Fact]
    public async Task Sign_in_with_a_listed_verified_email_makes_an_operator_an_unverified_one_does_not()
    {
        var email = NewSubject() + "@ops.test";
        var tenancy = new TenancySettings { Operators = [email.ToUpperInvariant()] };

        Assert.True(await SignsInAsOperatorAsync(tenancy, NewSubject(), email, emailVerified: true));
        Assert.False(await SignsInAsOperatorAsync(tenancy, NewSubject(), email, emailVerified: false));
    }
}

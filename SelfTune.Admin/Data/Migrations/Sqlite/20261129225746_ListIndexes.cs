using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ListIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_Deliveries_InstallationId_ReceivedAt",
                table: "Deliveries",
                columns: new[] { "InstallationId", "ReceivedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_Deliveries_RepositoryId_ReceivedAt",
                table: "Deliveries",
                columns: new[] { "RepositoryId", "ReceivedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_Connections_OrgId_CreatedAt_Id",
                table: "Connections",
                columns: new[] { "OrgId", "CreatedAt", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Deliveries_InstallationId_ReceivedAt",
                table: "Deliveries");

            migrationBuilder.DropIndex(
                name: "IX_Deliveries_RepositoryId_ReceivedAt",
                table: "Deliveries");

            migrationBuilder.DropIndex(
                name: "IX_Connections_OrgId_CreatedAt_Id",
                table: "Connections");
        }
    }
}
